import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { getCountries, getExampleNumber, parsePhoneNumberFromString } from 'libphonenumber-js/max';
import examples from 'libphonenumber-js/mobile/examples';
import { canonicalPhone, countryOfE164, maskPhone } from '../../lib/core/phone.js';

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
  it('accepts exactly the numbers libphonenumber calls valid (type first, isValid only for the rest)', () => {
    // Every country's example mobile number and variants of it: digits changed, dropped and added,
    // so that valid and invalid numbers of every numbering plan are both checked.
    let valid = 0;
    let invalid = 0;
    for (const country of getCountries()) {
      const example = getExampleNumber(country, examples)?.number;
      if (example === undefined) continue;
      const variants = [example, example.slice(0, -1), `${example}0`, `${example}12`, example.slice(0, -2) + '00', `${example.slice(0, 4)}0${example.slice(5)}`, `${example.slice(0, 4)}9${example.slice(5)}`, `${example.slice(0, 3)}1${example.slice(4)}`];
      for (const input of variants) {
        const parsed = parsePhoneNumberFromString(input);
        const expected = parsed !== undefined && parsed.isValid() && parsed.number.length <= 16;
        const got = canonicalPhone(input);
        assert.equal(got !== undefined, expected, input);
        if (got === undefined) invalid += 1;
        else {
          valid += 1;
          assert.equal(got.type, parsed?.getType(), input);
        }
      }
    }
    assert.ok(valid > 500 && invalid > 500, `${valid} valid, ${invalid} invalid`);
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

describe('countryOfE164 (the end sweep\'s country of a stored number)', () => {
  const parsed = (e164: string): string | undefined => parsePhoneNumberFromString(e164)?.country;
  it('answers what the full parse answers for every country\'s example number', () => {
    let checked = 0;
    for (const country of getCountries()) {
      const example = getExampleNumber(country, examples);
      if (example === undefined) continue;
      assert.equal(countryOfE164(example.number), parsed(example.number), `${country} ${example.number}`);
      checked += 1;
    }
    assert.ok(checked > 200, `only ${checked} example numbers`);
  });
  it('answers the full parse for shared calling codes (+1, +7, +44) and non-geographic numbers', () => {
    for (const [e164, country] of [['+12025550123', 'US'], ['+14165550123', 'CA'], ['+77012345678', 'KZ'], ['+79123456789', 'RU'], ['+447400123456', 'GB'], ['+441534123456', 'JE'], ['+80012345678', undefined]] as const) {
      assert.equal(countryOfE164(e164), country, e164);
      assert.equal(countryOfE164(e164), parsed(e164), e164);
    }
  });
  it('agrees with the full parse on any string of digits after a plus', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\+[0-9]{1,16}$/), (e164) => countryOfE164(e164) === parsed(e164)),
      { numRuns: 5000 },
    );
  });
});
