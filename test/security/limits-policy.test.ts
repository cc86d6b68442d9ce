/**
 * The pure parts of the abuse defences (no database): client IP buckets, number ranges, the
 * destination policy, lock escalation, option validation, and the code generator's statistics.
 * Names start with the item of ../shared/design/security.md they prove.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateCode } from '../../lib/core/code.js';
import { canonicalPhone } from '../../lib/core/phone.js';
import { resolveOptions } from '../../lib/options.js';
import { resolveDestinations, resolveLimits } from '../../lib/limits/config.js';
import { destinationRefusal } from '../../lib/limits/destination.js';
import { ipBucket, prefixBucket } from '../../lib/limits/keys.js';
import { lockSecondsFor, retryAfterSeconds } from '../../lib/limits/policy.js';
import { BLOCKED_SAMPLES } from './helpers/numbers.js';

const refusalOf = (phone: string, channel: 'sms' | 'call', options: Parameters<typeof resolveDestinations>[0] = {}) => {
  const parsed = canonicalPhone(phone);
  assert.ok(parsed !== undefined, `${phone} is a valid number`);
  return destinationRefusal(parsed, channel, resolveDestinations(options));
};

describe('security #14: client IP buckets', () => {
  it('keys IPv4 as it is, and IPv4-mapped IPv6 as the IPv4 address', () => {
    assert.equal(ipBucket('203.0.113.7'), '203.0.113.7');
    assert.equal(ipBucket('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(ipBucket('::FFFF:cb00:7107'), '203.0.113.7');
  });

  it('groups IPv6 by /56: every address of one /56 shares a bucket, the next /56 does not', () => {
    const bucket = ipBucket('2001:db8:0:ab00::1');
    for (const ip of ['2001:db8:0:ab00::1', '2001:db8:0:abff:ffff:ffff:ffff:ffff', '2001:0db8:0000:ab12:0:0:0:9', '2001:DB8:0:AB80::', 'fe80::1%eth0'.replace('fe80::1', '2001:db8:0:ab01::1')]) {
      assert.equal(ipBucket(ip), bucket, ip);
    }
    assert.equal(bucket, '2001:db8:0:ab00:0:0:0:0/56');
    assert.notEqual(ipBucket('2001:db8:0:ac00::1'), bucket);
    assert.notEqual(ipBucket('2001:db8:1:ab00::1'), bucket);
  });

  it('honours another prefix length and keys unparseable input as it is (never unlimited)', () => {
    assert.equal(ipBucket('2001:db8:0:ab12::1', 64), '2001:db8:0:ab12:0:0:0:0/64');
    assert.equal(ipBucket('1:2:3:4:5:6:1.2.3.4', 56), '1:2:3:0:0:0:0:0/56');
    assert.equal(ipBucket('not-an-ip'), 'other:not-an-ip');
    assert.equal(ipBucket('1::2::3'), 'other:1::2::3');
    assert.equal(ipBucket(undefined), undefined);
    assert.equal(ipBucket(''), undefined);
  });
});

describe('security #23: number ranges for the per-prefix limit', () => {
  it('drops the last digits, so sequential numbers of one range share a bucket', () => {
    assert.equal(prefixBucket('+447700900123'), '+44770090');
    assert.equal(prefixBucket('+447700900999'), prefixBucket('+447700900123'));
    assert.notEqual(prefixBucket('+447700910123'), prefixBucket('+447700900123'));
    assert.equal(prefixBucket('+359871234567', 6), '+359871');
    assert.equal(prefixBucket('+1234', 4), '+12');
  });
});

describe('security #24/#25: destination policy', () => {
  it('#25 refuses premium-rate, shared-cost, toll-free, VoIP, pager and voicemail numbers by default', () => {
    for (const [type, phone] of Object.entries(BLOCKED_SAMPLES)) {
      assert.equal(canonicalPhone(phone)?.type, type, `${phone} is classified as ${type}`);
      assert.equal(refusalOf(phone, 'sms')?.reason, 'number-type', `${type} ${phone}`);
      assert.equal(refusalOf(phone, 'call')?.reason, 'number-type', `${type} ${phone} (call)`);
    }
  });

  it('#25 lets mobile, fixed-line-or-mobile (US) numbers through, and the blocked list is configurable', () => {
    assert.equal(refusalOf('+359871234567', 'sms'), undefined);
    assert.equal(canonicalPhone('+14155550100')?.type, 'FIXED_LINE_OR_MOBILE');
    assert.equal(refusalOf('+14155550100', 'sms'), undefined);
    assert.equal(refusalOf('+448001234567', 'sms', { blockedTypes: [] }), undefined);
    assert.equal(refusalOf('+442079460000', 'sms', { blockedTypes: ['FIXED_LINE'] })?.reason, 'number-type');
  });

  it('#25 refuses non-geographic numbers (+870, +881, +883) unless allowed', () => {
    assert.equal(refusalOf('+870773111632', 'sms')?.reason, 'non-geographic');
    assert.equal(refusalOf('+881612345678', 'sms')?.reason, 'non-geographic');
    assert.equal(refusalOf('+870773111632', 'sms', { allowNonGeographic: true }), undefined);
    // Still refused by type when one is known to be bad (+883 is VoIP).
    assert.equal(refusalOf('+883510012345', 'sms', { allowNonGeographic: true })?.reason, 'number-type');
  });

  it('#24 an allow-list denies every other country; a deny-list refuses its countries; per channel', () => {
    const options = { allow: ['BG', 'GB'], deny: ['GB'], call: { allow: ['US'] } };
    assert.equal(refusalOf('+359871234567', 'sms', options), undefined);
    assert.equal(refusalOf('+4915112345678', 'sms', options)?.reason, 'country-not-allowed');
    assert.equal(refusalOf('+447712345678', 'sms', options)?.reason, 'country-denied');
    // The call channel has its own allow-list (the shared deny-list still applies).
    assert.equal(refusalOf('+359871234567', 'call', options)?.reason, 'country-not-allowed');
    assert.equal(refusalOf('+14155550100', 'call', options), undefined);
    assert.equal(refusalOf('+447712345678', 'call', options)?.reason, 'country-denied');
  });
});

describe('security #13: lock escalation', () => {
  it('doubles from lockSeconds up to maxLockSeconds and never decreases', () => {
    const lock = { lockSeconds: 300, maxLockSeconds: 3600 };
    const waits = [1, 2, 3, 4, 5, 6, 50].map((level) => lockSecondsFor(level, lock));
    assert.deepEqual(waits, [300, 600, 1200, 2400, 3600, 3600, 3600]);
    for (let i = 1; i < waits.length; i += 1) assert.ok((waits[i] as number) >= (waits[i - 1] as number));
    assert.equal(lockSecondsFor(0, lock), 300);
  });

  it('Retry-After is whole seconds, rounded up, at least 1', () => {
    assert.deepEqual([0, 1, 999, 1000, 1001, 59_000].map(retryAfterSeconds), [1, 1, 1, 1, 2, 59]);
  });
});

describe('limits and destinations options', () => {
  const fails = (options: Parameters<typeof resolveOptions>[0], pattern: RegExp) =>
    assert.throws(() => resolveOptions(options), (e: unknown) => e instanceof Error && pattern.test(e.message), `expected ${pattern}`);

  it('has the documented defaults, each configurable, false switching one off and limits: false all', () => {
    const c = resolveOptions({ env: {} });
    assert.deepEqual(c.limits, {
      sendCooldownSeconds: 60,
      channelSwitchCooldownSeconds: 30,
      sendsPerNumber: { max: 5, windowSeconds: 600 },
      sendsPerIp: { max: 30, windowSeconds: 300 },
      sendsPerPrefix: { max: 20, windowSeconds: 3600, hiddenDigits: 4 },
      sendsPerCountry: false,
      dailySendBudget: 5000,
      verifiesPerIp: { max: 30, windowSeconds: 300 },
      verifyLock: { failures: 10, windowSeconds: 900, lockSeconds: 300, maxLockSeconds: 3600, escalationWindowSeconds: 86_400 },
      failureBudget: { failures: 100, lockSeconds: 86_400 },
      conversionBreaker: { minSends: 50, minRatio: 0.2, windowSeconds: 3600, holdSeconds: 3600, hiddenDigits: 6, checkEvery: 10 },
      ipv6Subnet: 56,
    });
    assert.deepEqual([...c.destinations.blockedTypes].sort(), ['PAGER', 'PREMIUM_RATE', 'SHARED_COST', 'TOLL_FREE', 'VOICEMAIL', 'VOIP']);
    assert.equal(c.destinations.allowNonGeographic, false);
    assert.equal(c.destinations.channels.sms.allow, undefined);
    const tuned = resolveLimits({ sendsPerIp: { max: 3 }, sendCooldownSeconds: false, sendsPerCountry: {}, verifyLock: { lockSeconds: 30 } });
    assert.deepEqual(tuned.sendsPerIp, { max: 3, windowSeconds: 300 });
    assert.equal(tuned.sendCooldownSeconds, false);
    assert.deepEqual(tuned.sendsPerCountry, { max: 1000, windowSeconds: 86_400 });
    assert.equal(tuned.verifyLock === false ? 0 : tuned.verifyLock.lockSeconds, 30);
    const off = resolveLimits(false);
    for (const [name, value] of Object.entries(off)) if (name !== 'ipv6Subnet') assert.equal(value, false, name);
  });

  it('names the bad field and the fix at startup', () => {
    fails({ env: {}, limits: { sendsPerIp: { max: 0 } } }, /`limits.sendsPerIp.max` must be greater than or equal to 1.*false to switch it off/);
    fails({ env: {}, limits: { sendCooldownSeconds: 'soon' as never } }, /`limits.sendCooldownSeconds` must be a number of seconds or false/);
    fails({ env: {}, limits: { failureBudget: { failures: 101 } } }, /`limits.failureBudget.failures` must be less than or equal to 100/);
    fails({ env: {}, limits: { conversionBreaker: { minRatio: 1.5 } } }, /`limits.conversionBreaker.minRatio` must be less than or equal to 1/);
    fails({ env: {}, limits: { sendsPerIpp: {} } as never }, /unknown option `limits.sendsPerIpp`/);
    fails({ env: {}, destinations: { allow: ['BG', 'XX'] } }, /`destinations.allow.1`.*not an ISO 3166-1 alpha-2 country code/);
    fails({ env: {}, destinations: { blockedTypes: ['PREMIUM'] as never } }, /`destinations.blockedTypes.0` must be one of/);
    fails({ env: {}, challenge: 'yes' as never }, /`challenge` must be of type function/);
  });
});

describe('security #1: codes from a CSPRNG without bias', () => {
  it('10^6 codes: every digit position passes a chi-square test and about 10% start with 0', () => {
    const n = 1_000_000;
    const counts = new Uint32Array(60); // position * 10 + digit
    for (let i = 0; i < n; i += 1) {
      const code = generateCode(6);
      for (let p = 0; p < 6; p += 1) {
        const at = p * 10 + code.charCodeAt(p) - 48;
        counts[at] = (counts[at] ?? 0) + 1;
      }
    }
    const expected = n / 10;
    for (let position = 0; position < 6; position += 1) {
      const row = [...counts.subarray(position * 10, position * 10 + 10)];
      assert.equal(row.reduce((a, b) => a + b, 0), n, 'every code has 6 digits');
      const chi = row.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
      // 9 degrees of freedom: p = 0.0001 at 33.7; a fair generator fails this once in 10^4 runs.
      assert.ok(chi < 33.7, `position ${position}: chi-square ${chi.toFixed(1)}`);
    }
    const leadingZero = counts[0] ?? 0;
    assert.ok(Math.abs(leadingZero / n - 0.1) < 0.003, `share of codes starting with 0: ${leadingZero / n}`);
  });
});
