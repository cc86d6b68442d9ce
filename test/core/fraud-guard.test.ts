/** The fraud guard's pure parts: IP networks, the safe list, the monitor verdict and the renewing hold durations. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { inNetwork, parseIp, parseNetwork } from '../../lib/core/ip.js';
import { matchSafeList, mergeSafeLists, parseSafeList, safeListValidationError } from '../../lib/core/safe-list.js';
import { splitFraudGuard } from '../../lib/limits/fraud-options.js';
import { conversionLow, limitVerdict, nextHoldSeconds } from '../../lib/limits/policy.js';

it('IP networks: IPv4 and IPv6 CIDR, single addresses, IPv4-mapped IPv6, malformed input', () => {
  const net = (text: string) => parseNetwork(text) ?? assert.fail(text);
  const ip = (text: string) => parseIp(text) ?? assert.fail(text);
  assert.ok(inNetwork(ip('10.200.3.4'), net('10.0.0.0/8')));
  assert.ok(inNetwork(ip('::ffff:10.1.1.1'), net('10.0.0.0/8')));
  assert.ok(!inNetwork(ip('11.0.0.1'), net('10.0.0.0/8')));
  assert.ok(inNetwork(ip('10.1.2.3'), net('10.1.2.3')));
  assert.ok(!inNetwork(ip('10.1.2.4'), net('10.1.2.3')));
  assert.ok(inNetwork(ip('2001:db8:ffff::1'), net('2001:db8::/32')));
  assert.ok(!inNetwork(ip('2001:db9::1'), net('2001:db8::/32')));
  assert.ok(!inNetwork(ip('10.0.0.1'), net('::/0')), 'never across versions');
  assert.ok(inNetwork(ip('203.0.113.9'), net('0.0.0.0/0')));
  assert.deepEqual(net('10.1.2.3/8'), net('10.0.0.0/8'), 'host bits dropped');
  for (const bad of ['10.0.0.0/33', '2001:db8::/129', '10.0.0/8', '010.0.0.1', 'x', '10.0.0.0/', '10.0.0.0/08', '1.2.3.4/-1']) assert.equal(parseNetwork(bad), undefined, bad);
});

it('safe list: parsing names the bad entry, matching by number, prefix and network, bypassPolicy only where an entry says so', () => {
  const list = parseSafeList({ numbers: ['+359 87 123 4567', { number: '+359881234567', bypassPolicy: true }], prefixes: ['+4479', { prefix: '+447946', bypassPolicy: true }], ips: ['192.0.2.0/24'] }, 'a test', safeListValidationError);
  assert.deepEqual(matchSafeList(list, '+359871234567', undefined), { kind: 'number', bypassPolicy: false });
  assert.deepEqual(matchSafeList(list, '+359881234567', undefined), { kind: 'number', bypassPolicy: true });
  assert.deepEqual(matchSafeList(list, '+447911123456', undefined), { kind: 'prefix', bypassPolicy: false });
  assert.deepEqual(matchSafeList(list, '+447946123456', undefined), { kind: 'prefix', bypassPolicy: true });
  assert.deepEqual(matchSafeList(list, '+4915112345678', '192.0.2.77'), { kind: 'ip', bypassPolicy: false });
  assert.equal(matchSafeList(list, '+4915112345678', '192.0.3.1'), undefined);
  assert.equal(matchSafeList(list, '+4915112345678', 'garbage'), undefined);
  assert.deepEqual(list.stored, { numbers: [{ number: '+359871234567' }, { number: '+359881234567', bypassPolicy: true }], prefixes: [{ prefix: '+4479' }, { prefix: '+447946', bypassPolicy: true }], ips: ['192.0.2.0/24'] });
  const merged = mergeSafeLists(list, parseSafeList({ numbers: ['+4915112345678'] }, 'b', safeListValidationError));
  assert.deepEqual(matchSafeList(merged, '+4915112345678', undefined), { kind: 'number', bypassPolicy: false });
  assert.deepEqual(matchSafeList(merged, '+359881234567', undefined), { kind: 'number', bypassPolicy: true });
  const error = (() => {
    try {
      parseSafeList({ ips: ['10.0.0.1', '300.0.0.1'] }, 'a test', safeListValidationError);
    } catch (e) {
      return e as { code: string; message: string; details: { field: string } };
    }
    return assert.fail('no error');
  })();
  assert.equal(error.code, 'VALIDATION_FAILED');
  assert.equal(error.details.field, 'safeList.ips[1]');
  assert.throws(() => parseSafeList({ numbers: new Array(1001).fill('+359871234567') }, 'x', safeListValidationError), /safeList\.numbers/);
});

it('monitor verdict and renewing hold durations are pure', () => {
  assert.equal(limitVerdict('sendsPerNumber', new Set(['sendsPerNumber'])), 'monitor');
  assert.equal(limitVerdict('sendsPerIp', new Set(['sendsPerNumber'])), 'refuse');
  assert.deepEqual([1, 2, 3, 4, 5, 6, 40].map((level) => nextHoldSeconds(level, 3600, 86_400)), [3600, 7200, 14_400, 28_800, 57_600, 86_400, 86_400]);
  assert.equal(nextHoldSeconds(3, 3600, 60), 3600, 'a cap under the first hold never shortens it');
  assert.equal(nextHoldSeconds(0, 60, 600), 60);
  assert.equal(conversionLow(9, 0, { minSends: 10, minRatio: 0.2 }), false, 'too few sends to judge');
  assert.equal(conversionLow(10, 1, { minSends: 10, minRatio: 0.2 }), true);
  assert.equal(conversionLow(10, 2, { minSends: 10, minRatio: 0.2 }), false);
});

it('splitFraudGuard takes the fraud guard options out and leaves the rest as it was', () => {
  const { options, fraudGuard } = splitFraudGuard({ codeLength: 6, limits: { monitor: ['sendCooldownSeconds'], sendsPerIp: { max: 3, monitor: true }, conversionBreaker: { holdSeconds: 60, maxHoldSeconds: 600, monitor: false } }, destinations: { monitor: true, deny: ['RU'] }, safeList: { ips: ['10.0.0.0/8'] } });
  assert.deepEqual(options, { codeLength: 6, limits: { sendsPerIp: { max: 3 }, conversionBreaker: { holdSeconds: 60 } }, destinations: { deny: ['RU'] } });
  assert.deepEqual([...fraudGuard.monitor].sort(), ['destinations', 'sendCooldownSeconds', 'sendsPerIp']);
  assert.equal(fraudGuard.maxHoldSeconds, 600);
  assert.equal(fraudGuard.safeList.networks.length, 1);
  assert.deepEqual([...splitFraudGuard({ limits: { monitor: true } }).fraudGuard.monitor].length, 12);
  assert.equal(splitFraudGuard({ limits: false }).fraudGuard.monitor.size, 0);
});
