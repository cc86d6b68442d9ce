import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { codeMatches, decryptCode, deriveKey, digestCode, digestsEqual, encryptCode, generateCode, renderMessage } from '../../lib/core/code.js';

const key = deriveKey('a-secret-of-at-least-thirty-two-characters', 'code-digest');

describe('generateCode (security #1)', () => {
  it('makes codes of the requested length with leading zeros kept', () => {
    const digits = [0, 1, 2, 3, 4, 5];
    let i = 0;
    assert.equal(generateCode(6, () => digits[i++ % 6] as number), '012345');
    for (let n = 0; n < 200; n += 1) assert.match(generateCode(8), /^[0-9]{8}$/);
  });

  it('is uniform per position: chi-square over 100,000 codes, and about 10% start with 0', () => {
    const counts = Array.from({ length: 6 }, () => new Array<number>(10).fill(0));
    const n = 100_000;
    let leadingZero = 0;
    for (let k = 0; k < n; k += 1) {
      const code = generateCode(6, randomInt);
      if (code.startsWith('0')) leadingZero += 1;
      for (let p = 0; p < 6; p += 1) (counts[p] as number[])[Number(code[p])]! += 1;
    }
    const expected = n / 10;
    for (const position of counts) {
      const chi2 = position.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
      // 9 degrees of freedom: p = 0.0001 at 33.7. A biased generator (e.g. byte % 10) scores far higher.
      assert.ok(chi2 < 33.7, `chi-square ${chi2.toFixed(1)} too high for a uniform digit`);
    }
    assert.ok(Math.abs(leadingZero / n - 0.1) < 0.01, `leading zeros: ${leadingZero / n}`);
  });
});

describe('code digests (security #2, #8, #16)', () => {
  it('binds the digest to request, phone and code', () => {
    const d = digestCode(key, 'req-a', '+359871234567', '012345');
    assert.match(d, /^[0-9a-f]{64}$/);
    assert.equal(codeMatches([key], d, 'req-a', '+359871234567', '012345'), true);
    assert.equal(codeMatches([key], d, 'req-a', '+359871234567', '12345'), false, 'a dropped leading zero is another code');
    assert.equal(codeMatches([key], d, 'req-b', '+359871234567', '012345'), false, 'another request');
    assert.equal(codeMatches([key], d, 'req-a', '+359881234567', '012345'), false, 'another phone');
    assert.ok(!d.includes('012345'));
  });

  it('accepts a digest made with any listed secret (rotation)', () => {
    const oldKey = deriveKey('the-old-secret-which-is-long-enough-too', 'code-digest');
    const d = digestCode(oldKey, 'r', '+359871234567', '654321');
    assert.equal(codeMatches([key, oldKey], d, 'r', '+359871234567', '654321'), true);
    assert.equal(codeMatches([key], d, 'r', '+359871234567', '654321'), false);
  });

  it('compares malformed digests as unequal instead of throwing', () => {
    assert.equal(digestsEqual('abc', 'abc'), false);
    assert.equal(digestsEqual('', ''), false);
    const d = digestCode(key, 'r', '+1', '1');
    assert.equal(digestsEqual(d, d), true);
    assert.equal(digestsEqual(d, d.slice(0, 62)), false);
  });
});

describe('sealed codes for retries', () => {
  const cipherKey = deriveKey('a-secret-of-at-least-thirty-two-characters', 'code-cipher');
  it('round-trips, is bound to the request id, and never contains the code', () => {
    const sealed = encryptCode(cipherKey, 'req-1', '123456');
    assert.ok(!sealed.includes('123456'));
    assert.equal(decryptCode([cipherKey], 'req-1', sealed), '123456');
    assert.equal(decryptCode([cipherKey], 'req-2', sealed), undefined);
    assert.equal(decryptCode([deriveKey('another-secret-another-secret-another', 'code-cipher')], 'req-1', sealed), undefined);
    assert.equal(decryptCode([cipherKey], 'req-1', 'v1.garbage'), undefined);
  });

  it('never repeats an IV, also across refills of the IV pool (AES-GCM needs unique IVs)', () => {
    // 2,000 seals use up the pool of random bytes several times over.
    const ivs = new Set<string>();
    for (let i = 0; i < 2_000; i += 1) {
      const sealed = encryptCode(cipherKey, `req-${i}`, '654321');
      const [, iv] = sealed.split('.');
      assert.equal(Buffer.from(iv ?? '', 'base64url').length, 12);
      ivs.add(iv ?? '');
      if (i % 250 === 0) assert.equal(decryptCode([cipherKey], `req-${i}`, sealed), '654321');
    }
    assert.equal(ivs.size, 2_000);
  });
});

describe('renderMessage', () => {
  it('fills the seed placeholder _CODE_ and _APP_', () => {
    assert.equal(renderMessage('Your _APP_ code is _CODE_. _CODE_!', '012345', 'Acme'), 'Your Acme code is 012345. 012345!');
  });
});
