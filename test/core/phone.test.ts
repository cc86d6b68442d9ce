import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalPhone, maskPhone } from '../../lib/core/phone.js';

describe('canonicalPhone (security #17)', () => {
  it('gives one E.164 key for formatted, 00-prefixed and full-width input', () => {
    for (const input of ['+359871234567', '+359 87 123 4567', '+359 (87) 123-4567', '00359871234567', '＋３５９８７１２３４５６７']) {
      assert.equal(canonicalPhone(input)?.e164, '+359871234567', input);
    }
  });
  it('accepts national numbers only with a default country', () => {
    assert.equal(canonicalPhone('0871234567'), undefined);
    assert.equal(canonicalPhone('0871234567', 'BG')?.e164, '+359871234567');
  });
  it('refuses letters, CR/LF, empty, too long and invalid numbers', () => {
    for (const input of ['', '+', 'abc', '+35987123456a', '+359871234567\r\n', "' OR 1=1 --", '+1234567890123456', '+35987123456', '+15550100000']) {
      assert.equal(canonicalPhone(input), undefined, JSON.stringify(input));
    }
  });
  it('reports the number type from full metadata', () => {
    assert.equal(canonicalPhone('+359871234567')?.type, 'MOBILE');
    assert.equal(canonicalPhone('+19002345678')?.type, 'PREMIUM_RATE');
  });
});

describe('maskPhone', () => {
  it('keeps the prefix and the last two digits', () => {
    assert.equal(maskPhone('+359871234567'), '+35987*****67');
    assert.ok(!maskPhone('+14155550100').includes('555010'));
  });
});
