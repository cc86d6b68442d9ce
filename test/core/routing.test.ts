import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chainFor, parseRouting, RoutingParseError } from '../../lib/core/routing.js';

const KNOWN = ['Twilio', 'Sinch', 'Mada', 'Console'];

describe('parseRouting', () => {
  it('parses the seed example into a default chain and prefix rules', () => {
    const r = parseRouting('Twilio;Mada:+35987,+35988;Sinch', KNOWN);
    assert.deepEqual(r.defaultChain, ['Twilio', 'Sinch']);
    assert.deepEqual(r.rules.map((x) => [x.prefix, x.providers]), [['+35987', ['Mada']], ['+35988', ['Mada']]]);
    assert.equal(r.source, 'Twilio;Mada:+35987,+35988;Sinch');
  });
});

describe('chainFor', () => {
  it('routes prefixed numbers to Mada first, then the default chain', () => {
    const r = parseRouting('Twilio;Mada:+35987,+35988;Sinch', KNOWN);
    assert.deepEqual(chainFor(r, '+359871234567'), ['Mada', 'Twilio', 'Sinch']);
    assert.deepEqual(chainFor(r, '+14155550100'), ['Twilio', 'Sinch']);
  });
  it('rejects a malformed string naming the bad part', () => {
    assert.throws(() => parseRouting('Twilio;Mada:359', KNOWN), (e: unknown) => e instanceof RoutingParseError && /"359"/.test(e.message));
  });
});
