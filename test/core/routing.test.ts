import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chainFor, parseRouting, RoutingParseError } from '../../lib/core/routing.js';

const KNOWN = ['Twilio', 'Sinch', 'Mada', 'Console'];

const fails = (input: string | string[], pattern: RegExp) =>
  assert.throws(() => parseRouting(input, KNOWN), (e: unknown) => e instanceof RoutingParseError && pattern.test(e.message), `${JSON.stringify(input)} should fail with ${pattern}`);

describe('parseRouting', () => {
  it('parses the seed example into a default chain and prefix rules', () => {
    const r = parseRouting('Twilio;Mada:+35987,+35988;Sinch', KNOWN);
    assert.deepEqual(r.defaultChain, ['Twilio', 'Sinch']);
    assert.deepEqual(r.rules.map((x) => [x.prefix, x.providers]), [['+35987', ['Mada']], ['+35988', ['Mada']]]);
    assert.equal(r.source, 'Twilio;Mada:+35987,+35988;Sinch');
  });

  it('accepts single names, forced lists, case differences, spaces and a trailing ;', () => {
    assert.deepEqual(parseRouting('Twilio', KNOWN).defaultChain, ['Twilio']);
    assert.deepEqual(parseRouting(['Twilio', 'Sinch'], KNOWN).defaultChain, ['Twilio', 'Sinch']);
    const r = parseRouting(' twilio ; MADA: +35987 , +35988 ;', KNOWN);
    assert.equal(r.source, 'Twilio;Mada:+35987,+35988');
  });

  it('names the bad part of a malformed string', () => {
    fails('', /empty/);
    fails('Twilio;;Sinch', /part 2 is empty/);
    fails('Twillio', /unknown provider "Twillio".*did you mean "Twilio"/);
    fails('Twilio;Mada:359', /malformed prefix "359"/);
    fails('Twilio;Mada:+35a', /malformed prefix "\+35a"/);
    fails('Twilio;Mada:', /malformed prefix ""/);
    fails('Twilio;Mada:+35987,,+35988', /malformed prefix ""/);
    fails('Twilio;Twilio', /listed twice/);
    fails('Mada:+35987;Mada:+35987', /listed twice for prefix \+35987/);
  });
});

describe('chainFor', () => {
  const r = parseRouting('Twilio;Mada:+35987,+35988;Sinch', KNOWN);
  it('routes prefixed numbers to Mada first, then falls back to the default chain', () => {
    assert.deepEqual(chainFor(r, '+359871234567'), ['Mada', 'Twilio', 'Sinch']);
    assert.deepEqual(chainFor(r, '+359881234567'), ['Mada', 'Twilio', 'Sinch']);
    assert.deepEqual(chainFor(r, '+14155550100'), ['Twilio', 'Sinch']);
  });

  it('lets the longest prefix win, whatever the order in the string', () => {
    for (const s of ['Twilio;Sinch:+359;Mada:+35987', 'Mada:+35987;Sinch:+359;Twilio']) {
      const routing = parseRouting(s, KNOWN);
      assert.deepEqual(chainFor(routing, '+359871234567'), ['Mada', 'Twilio']);
      assert.deepEqual(chainFor(routing, '+359881234567'), ['Sinch', 'Twilio']);
    }
  });

  it('keeps listed order for providers sharing a prefix and never repeats one', () => {
    const routing = parseRouting('Twilio;Sinch:+359;Mada:+359', KNOWN);
    assert.deepEqual(chainFor(routing, '+359871234567'), ['Sinch', 'Mada', 'Twilio']);
    const again = parseRouting('Twilio;Twilio:+359', KNOWN);
    assert.deepEqual(chainFor(again, '+359871234567'), ['Twilio']);
  });

  it('is deterministic over many calls', () => {
    const first = chainFor(r, '+359871234567');
    for (let i = 0; i < 1000; i += 1) assert.deepEqual(chainFor(r, '+359871234567'), first);
  });
});
