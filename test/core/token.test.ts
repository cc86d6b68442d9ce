import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { signToken, tokenKeyring, verifyToken } from '../../lib/core/token.js';

const SECRET = 'token-secret-token-secret-token-secret-1';
const ring = tokenKeyring([SECRET]);
const now = Date.UTC(2026, 10, 25, 12);
const claims = { phone: '+359871234567', requestId: '6f1c9a0e-0000-4000-8000-000000000001', purpose: 'delete-account', verifiedAt: now };

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('verification tokens (security #29)', () => {
  it('round-trips the claims', async () => {
    const { token, expiresAt } = signToken(ring, claims, now, 300);
    assert.equal(expiresAt.getTime(), now + 300_000);
    const check = await verifyToken(ring, token, now + 1000, 5);
    assert.deepEqual(check, { ok: true, claims });
  });

  it('expires (with bounded skew)', async () => {
    const { token } = signToken(ring, claims, now, 60);
    assert.equal((await verifyToken(ring, token, now + 64_000, 5)).ok, true, 'inside the skew');
    assert.deepEqual(await verifyToken(ring, token, now + 66_000, 5), { ok: false, reason: 'expired' });
  });

  it('refuses a tampered payload', async () => {
    const { token } = signToken(ring, claims, now, 300);
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64({ sub: '+359881234567', jti: claims.requestId, pur: 'delete-account', vat: now, aud: 'express-otp-kit:verified', iat: now / 1000, exp: now / 1000 + 300 })}.${s}`;
    assert.deepEqual(await verifyToken(ring, forged, now, 5), { ok: false, reason: 'invalid' });
  });

  it('refuses alg:none and an HS512 token even with the right key', async () => {
    const payload = b64({ sub: claims.phone, jti: claims.requestId, pur: claims.purpose, vat: now, aud: 'express-otp-kit:verified', iat: now / 1000, exp: now / 1000 + 300 });
    const none = `${b64({ alg: 'none', kid: ring.signing.kid })}.${payload}.`;
    assert.deepEqual(await verifyToken(ring, none, now, 5), { ok: false, reason: 'invalid' });
    const header = b64({ alg: 'HS512', kid: ring.signing.kid });
    const sig = createHmac('sha512', ring.signing.key).update(`${header}.${payload}`).digest('base64url');
    assert.deepEqual(await verifyToken(ring, `${header}.${payload}.${sig}`, now, 5), { ok: false, reason: 'invalid' });
  });

  it('refuses a token signed with another secret, and garbage', async () => {
    const other = tokenKeyring(['another-secret-another-secret-another-secret']);
    const { token } = signToken(other, claims, now, 300);
    assert.deepEqual(await verifyToken(ring, token, now, 5), { ok: false, reason: 'invalid' });
    for (const junk of ['', 'a.b.c', 'x'.repeat(5000), 'eyJ.eyJ.']) assert.equal((await verifyToken(ring, junk, now, 5)).ok, false);
  });

  it('accepts tokens of a rotated-out secret while it is still listed', async () => {
    const old = tokenKeyring([SECRET]);
    const { token } = signToken(old, claims, now, 300);
    const rotated = tokenKeyring(['the-new-secret-the-new-secret-the-new-1', SECRET]);
    assert.equal((await verifyToken(rotated, token, now, 5)).ok, true);
    assert.equal((await verifyToken(tokenKeyring(['the-new-secret-the-new-secret-the-new-1']), token, now, 5)).ok, false);
  });
});
