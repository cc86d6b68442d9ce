/** Unit tests of the provider-side rules: classification, Retry-After, number locks, code formats. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyProviderError, isRetryableCode, parseRetryAfter, TWILIO_LOCK_MS } from '../../lib/providers/classify.js';
import { codeFormatProblem, isProviderCode, PROVIDER_CODE_FALLBACK, SINCH_CODE_FORMAT, TWILIO_CODE_FORMAT } from '../../lib/providers/code-format.js';
import { assertProvider } from '../../lib/providers/index.js';
import { createNumberLocks } from '../../lib/providers/number-locks.js';
import { ProviderError } from '../../lib/providers/provider-error.js';

describe('isRetryableCode: HTTP status first, then known codes', () => {
  it('Twilio: 429 and 5xx retry whatever the code; 60202/60203 never; 4xx never', () => {
    assert.equal(isRetryableCode('Twilio', '99999', 429), true);
    assert.equal(isRetryableCode('Twilio', '20503', 503), true);
    assert.equal(isRetryableCode('Twilio', '60200', 500), true);
    assert.equal(isRetryableCode('Twilio', '60203', 429), false);
    assert.equal(isRetryableCode('Twilio', '60202', 429), false);
    assert.equal(isRetryableCode('Twilio', '60200', 400), false);
    assert.equal(isRetryableCode('Twilio', '20429', undefined), true);
  });
  it('Sinch: only the HTTP status decides', () => {
    assert.equal(isRetryableCode('Sinch', '42900', 400), false);
    assert.equal(isRetryableCode('Sinch', '40001', 429), true);
    assert.equal(isRetryableCode('Sinch', '40300', 503), true);
    assert.equal(isRetryableCode('Sinch', '42901', undefined), false);
  });
  it('Mada: the SMPP commandStatus decides', () => {
    assert.equal(isRetryableCode('Mada', '88', 200), true);
    assert.equal(isRetryableCode('Mada', '14', 500), false);
  });
});

describe('classifyProviderError', () => {
  it('turns Twilio 60203 into rate-limited for 10 minutes (or Retry-After)', () => {
    const raw = new ProviderError({ provider: 'Twilio', kind: 'rejected', retryable: true, providerCode: '60203', httpStatus: 429, message: 'Max send attempts reached' });
    const e = classifyProviderError('Twilio', raw);
    assert.deepEqual([e.kind, e.retryable, e.retryAfterMs], ['rate-limited', false, TWILIO_LOCK_MS]);
    const withHeader = classifyProviderError('Twilio', new ProviderError({ provider: 'Twilio', kind: 'rejected', retryable: false, providerCode: '60202', httpStatus: 429, retryAfterMs: 5000, message: 'x' }));
    assert.equal(withHeader.retryAfterMs, 5000);
    assert.match(e.summary(), /^Twilio\[60203\] rate-limited http 429 retry-after 600s: /);
  });
  it('leaves a Sinch 429 rejected and retryable', () => {
    const e = classifyProviderError('Sinch', new ProviderError({ provider: 'Sinch', kind: 'rejected', retryable: false, providerCode: '42901', httpStatus: 429, message: 'x' }));
    assert.deepEqual([e.kind, e.retryable], ['rejected', true]);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('reads delay-seconds and HTTP dates, and ignores the rest', () => {
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
    for (const bad of [undefined, null, '', '0', '-5', 'soon', '1.5', '86401', 'Wed, 31 Dec 2025 23:59:00 GMT']) assert.equal(parseRetryAfter(bad, now), undefined, String(bad));
  });
});

describe('number locks', () => {
  it('lock a number until its time runs out, keep the longer lock, stay bounded', () => {
    let now = 1000;
    const locks = createNumberLocks(() => now, 3);
    locks.lock('+1', 500, '60202');
    locks.lock('+1', 100, '60203');
    assert.deepEqual(locks.current('+1'), { remainingMs: 500, reason: '60202' });
    now += 500;
    assert.equal(locks.current('+1'), undefined);
    for (const phone of ['+2', '+3', '+4', '+5']) locks.lock(phone, 1000, 'x');
    assert.equal(locks.size(), 3);
    assert.equal(locks.current('+2'), undefined, 'the oldest lock was forgotten');
  });
});

describe('code formats', () => {
  it('Twilio issues 4-10 digits; Sinch 1-10 letters, digits or "-"; the fallback is bounded', () => {
    assert.equal(isProviderCode({ codeFormat: TWILIO_CODE_FORMAT }, '0123'), true);
    assert.equal(isProviderCode({ codeFormat: TWILIO_CODE_FORMAT }, 'AB12'), false);
    assert.equal(isProviderCode({ codeFormat: SINCH_CODE_FORMAT }, 'AB-12x'), true);
    assert.equal(isProviderCode({ codeFormat: SINCH_CODE_FORMAT }, 'AB12CD34EF5'), false);
    assert.equal(isProviderCode({}, 'x'.repeat(PROVIDER_CODE_FALLBACK.maxLength)), true);
    assert.equal(isProviderCode({}, 'x'.repeat(PROVIDER_CODE_FALLBACK.maxLength + 1)), false);
    assert.equal(isProviderCode({}, 1234), false);
  });
  it('a custom provider must declare an anchored, bounded format', () => {
    assert.equal(codeFormatProblem({ pattern: /^[0-9]{4}$/, maxLength: 4, description: '4 digits' }), undefined);
    assert.match(codeFormatProblem({ pattern: /[0-9]+/, maxLength: 4, description: 'd' }) ?? '', /anchored/);
    assert.match(codeFormatProblem({ pattern: /^[0-9]+$/, maxLength: 100, description: 'd' }) ?? '', /maxLength/);
    const custom = { name: 'Mine', channels: ['sms'], ownsCode: true, send: () => Promise.resolve({}), check: () => Promise.resolve({ status: 'wrong' }), codeFormat: { pattern: /x/, maxLength: 1, description: 'x' } };
    assert.throws(() => assertProvider(custom, 'customProviders[0]'), /codeFormat\.pattern/);
  });
});
