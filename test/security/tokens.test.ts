/**
 * Verification tokens against the guarded route of the example app (POST /account/delete):
 * tampering, forging (alg none, HS/RS confusion, another key, no kid), expiry with bounded skew,
 * purpose, replay (also across app instances and in parallel), secret rotation, fail closed.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { it } from 'node:test';
import { SignJWT } from 'jose';
import { knexFromUrl } from '../../lib/index.js';
import { onAttackDatabases, postSend, postVerify, type AttackApp, attackAppStarter } from './helpers/attack-app.js';
import { freshMobile } from './helpers/numbers.js';
import { TEST_SECRET } from '../helpers/kit.js';

const OTHER_SECRET = 'another-secret-0123456789-abcdefghijklmno';
const PURPOSE = 'delete-account';

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const parts = (token: string) => {
  const [header, payload, signature] = token.split('.');
  return { header: JSON.parse(Buffer.from(header ?? '', 'base64url').toString()) as Record<string, unknown>, payload: JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>, signature: signature ?? '' };
};

/** Sends, verifies and returns the token (and the number it is for). */
async function tokenFor(app: AttackApp, purpose = PURPOSE): Promise<{ token: string; phone: string }> {
  const phone = freshMobile();
  await postSend(app, phone, { purpose }).expect(202);
  const res = await postVerify(app, phone, app.codeFor(phone)).expect(200);
  return { token: res.body.token as string, phone };
}

const guarded = (app: AttackApp, token: string, header: 'bearer' | 'x-otp-token' = 'bearer') =>
  app.http.post('/account/delete').set(header === 'bearer' ? 'Authorization' : 'X-OTP-Token', header === 'bearer' ? `Bearer ${token}` : token);

async function refused(app: AttackApp, token: string, status: number, code: string): Promise<void> {
  const res = await guarded(app, token);
  assert.equal(res.status, status, `${code}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error.code, code);
  assert.equal(res.body.deleted, undefined);
}

onAttackDatabases('attack: verification tokens over HTTP', (db) => {
  const start = attackAppStarter(db);

  it('#29 a tampered payload, alg:none, an RS256 token (HS/RS confusion), another key and a missing kid all get 401', async () => {
    const app = await start();
    const { token, phone } = await tokenFor(app);
    const { header, payload, signature } = parts(token);

    const tampered = [b64(header), b64({ ...payload, sub: '+359871234567' }), signature].join('.');
    await refused(app, tampered, 401, 'OTP_TOKEN_INVALID');
    const none = [b64({ ...header, alg: 'none' }), b64(payload), ''].join('.');
    await refused(app, none, 401, 'OTP_TOKEN_INVALID');

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs256 = await new SignJWT(payload).setProtectedHeader({ ...header, alg: 'RS256' }).sign(privateKey);
    await refused(app, rs256, 401, 'OTP_TOKEN_INVALID');
    const otherKey = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: header.kid as string }).sign(new TextEncoder().encode(OTHER_SECRET));
    await refused(app, otherKey, 401, 'OTP_TOKEN_INVALID');
    const noKid = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(OTHER_SECRET));
    await refused(app, noKid, 401, 'OTP_TOKEN_INVALID');
    await refused(app, 'not.a.token', 401, 'OTP_TOKEN_INVALID');
    await refused(app, 'x'.repeat(3000), 401, 'OTP_TOKEN_INVALID');

    // The untouched token still works (none of the forgeries spent it), and binds the number.
    const ok = await guarded(app, token).expect(200);
    assert.deepEqual(ok.body, { deleted: true, phone });
  });

  it('#29 expiry: accepted within the 5 s skew after exp, 401 OTP_TOKEN_EXPIRED beyond it; a token from the future is refused', async () => {
    const app = await start({ tokenTtlSeconds: 60 });
    const inSkew = await tokenFor(app);
    const beyond = await tokenFor(app);
    app.clock.advance(64_000);
    await guarded(app, inSkew.token).expect(200);
    app.clock.advance(2_000);
    await refused(app, beyond.token, 401, 'OTP_TOKEN_EXPIRED');

    const future = await tokenFor(app);
    app.clock.advance(-60_000);
    await refused(app, future.token, 401, 'OTP_TOKEN_INVALID');
  });

  it('#29 purpose: a token issued for "login" gets 403 on the "delete-account" route', async () => {
    const app = await start();
    const { token } = await tokenFor(app, 'login');
    await refused(app, token, 403, 'OTP_PURPOSE_MISMATCH');
    assert.equal(parts(token).payload.pur, 'login');
  });

  it('#30 no replay: a token works once (401 OTP_TOKEN_USED after), also across app instances and under 20 parallel uses', async () => {
    const app = await start();
    const other = await start({}, { keepCounters: true });
    const first = await tokenFor(app);
    await guarded(app, first.token, 'x-otp-token').expect(200);
    await refused(app, first.token, 401, 'OTP_TOKEN_USED');
    await refused(other, first.token, 401, 'OTP_TOKEN_USED');

    const raced = await tokenFor(app);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => guarded(i % 2 === 0 ? app : other, raced.token)));
    assert.equal(answers.filter((r) => r.status === 200).length, 1);
    assert.ok(answers.filter((r) => r.status !== 200).every((r) => r.status === 401 && r.body.error.code === 'OTP_TOKEN_USED'));
  });

  it('secret rotation: a token of the old secret is accepted while the old secret is still listed, refused once it is dropped', async () => {
    const old = await start();
    const { token } = await tokenFor(old);
    const rotated = await start({ secret: [OTHER_SECRET, TEST_SECRET] }, { keepCounters: true });
    const dropped = await start({ secret: OTHER_SECRET }, { keepCounters: true });
    await refused(dropped, token, 401, 'OTP_TOKEN_INVALID');
    await guarded(rotated, token).expect(200);
    // New tokens are signed with the first secret, under its own kid.
    const fresh = await tokenFor(rotated);
    assert.notEqual(parts(fresh.token).header.kid, parts(token).header.kid);
    await guarded(dropped, fresh.token).expect(200);
  });

  it('#32 fail closed: when the token store is unreachable the guarded handler never runs and no stack trace is returned', async () => {
    const own = knexFromUrl(db().url, { max: 2 });
    const app = await start({ db: own });
    const { token } = await tokenFor(app);
    await own.destroy();
    const res = await guarded(app, token);
    assert.equal(res.status, 500);
    assert.deepEqual(res.body, { error: { code: 'INTERNAL_ERROR', message: 'Internal error.' } });
    assert.doesNotMatch(res.text, /\bat .+\.(ts|js):\d+|Error:|knex|pool/i);
  });
});
