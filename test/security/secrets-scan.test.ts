/**
 * A full flow over HTTP through every path that handles a code (kit-owned and provider-owned
 * codes, wrong guesses, tokens, replays, limits, locks, refused destinations) and through provider
 * failures that echo what they were sent (a Twilio 4xx quoting the number and the code, a SOAP
 * fault quoting the whole SubmitSM, an HTTP client error embedding the request body). Then every
 * column of every table, every log line and every event is scanned: no code, no token, no secret anywhere,
 * and the number only masked outside the columns that key on it.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Knex } from 'knex';
import type { DbKind } from '../helpers/db.js';
import { soapFaultXml, startMadaFake, type MadaFake } from '../helpers/fakes/mada-fake.js';
import { startTwilioFake, type TwilioFake } from '../helpers/fakes/twilio-fake.js';
import { TEST_SECRET } from '../helpers/kit.js';
import type { OtpProvider } from '../../lib/types.js';
import { onAttackDatabases, postSend, postVerify, startAttackApp, wrongCode, type AttackApp } from './helpers/attack-app.js';
import { BLOCKED_SAMPLES, freshMobile } from './helpers/numbers.js';

const TWILIO_PHONE = '+359881000001';
const MADA_PHONE = '+359891234567';
const ECHO_PHONE = '+359871234567';

/** An HTTP client error that quotes the request body, as many SDKs do. */
const echoProvider: OtpProvider = {
  name: 'Echo',
  channels: ['sms', 'call'],
  ownsCode: false,
  send(input) {
    const body = JSON.stringify({ to: input.phone, text: input.text, code: input.code });
    return Promise.reject(new Error(`POST https://sms.example/send failed: 400 Bad Request; request body was ${body}`));
  },
};

async function tableNames(knex: Knex, kind: DbKind): Promise<string[]> {
  if (kind === 'sqlite') return (await knex.raw<{ name: string }[]>("SELECT name FROM sqlite_master WHERE type = 'table'")).map((r) => r.name);
  if (kind === 'mysql') return ((await knex.raw<[Record<string, string>[]]>('SHOW TABLES'))[0] ?? []).map((r) => Object.values(r)[0] ?? '');
  return (await knex.raw<{ rows: { tablename: string }[] }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).rows.map((r) => r.tablename);
}

/** A database value as text (drivers return strings, numbers, bigints, buffers or dates). */
function cellText(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return value.toString();
  return JSON.stringify(value) ?? '';
}

const standalone = (code: string) => new RegExp(`(?<![0-9])${code}(?![0-9])`);

let twilio: TwilioFake;
let mada: MadaFake;
before(async () => {
  [twilio, mada] = await Promise.all([startTwilioFake(), startMadaFake()]);
});
after(async () => {
  await Promise.all([twilio.close(), mada.close()]);
});

onAttackDatabases('attack: no code in the database or the logs', (db, kind) => {
  it('#2 #33 #34 after a full flow with echoing provider failures, no code appears in any table or log line, numbers are masked, events carry no secret', async () => {
    twilio.reset();
    mada.reset();
    const app: AttackApp = await startAttackApp(
      db(),
      {
        providers: 'Recorder;Twilio:+35988;Mada:+35989;Echo:+35987',
        twilio: { accountSid: twilio.accountSid, authToken: twilio.authToken, verifyServiceSid: twilio.serviceSid, baseUrl: twilio.url },
        mada: mada.providerOptions,
        limits: { sendCooldownSeconds: false, sendsPerNumber: { max: 3 }, verifyLock: { failures: 3, lockSeconds: 60 } },
      },
      { providers: [echoProvider] },
    );
    const typed: string[] = [];
    const verify = (phone: string, code: string) => {
      typed.push(code);
      return postVerify(app, phone, code);
    };
    try {
      // Kit-owned code through the recording provider: wrong, right, token used, reused, code replayed.
      const plain = freshMobile();
      await postSend(app, plain, { purpose: 'delete-account' }).expect(202);
      const plainCode = app.codeFor(plain);
      await verify(plain, wrongCode(plainCode)).expect(422);
      const ok = await verify(plain, plainCode).expect(200);
      await app.http.post('/account/delete').set('Authorization', `Bearer ${ok.body.token as string}`).expect(200);
      await app.http.post('/account/delete').set('Authorization', `Bearer ${ok.body.token as string}`).expect(401);
      await verify(plain, plainCode).expect(422);

      // An HTTP client error quoting the request body (number, text, code), then failover.
      await postSend(app, ECHO_PHONE).expect(202);
      const echoCode = app.codeFor(ECHO_PHONE);
      await verify(ECHO_PHONE, echoCode).expect(200);

      // A SOAP fault quoting the whole SubmitSM (with the code), then failover.
      mada.setReplies((request) => ({ raw: soapFaultXml('soapenv:Server', `cannot process ${request.rawBody}`), httpStatus: 500, contentType: 'text/xml' }));
      await postSend(app, MADA_PHONE).expect(202);
      const madaCode = app.codeFor(MADA_PHONE);
      assert.ok(mada.requests.some((r) => r.rawBody.includes(madaCode)), 'the gateway was sent the code');
      await verify(MADA_PHONE, madaCode).expect(200);

      // Provider-owned code (Twilio): a wrong check, a check error quoting number and code, a right check.
      await postSend(app, TWILIO_PHONE).expect(202);
      const twilioCode = twilio.codeFor(TWILIO_PHONE) ?? assert.fail('Twilio sent no code');
      await verify(TWILIO_PHONE, wrongCode(twilioCode)).expect(422);
      const echoed = wrongCode(twilioCode, 2);
      twilio.queueBehaviour({ type: 'error', status: 400, code: 60200, message: `Invalid parameter: To ${TWILIO_PHONE} Code ${echoed}` }, 'check');
      await verify(TWILIO_PHONE, echoed).expect(503);
      await verify(TWILIO_PHONE, twilioCode).expect(200);
      // A Twilio 4xx on send quoting the number, then failover to the recording provider.
      twilio.queueBehaviour({ type: 'error', status: 400, code: 60200, message: `Invalid parameter To: ${TWILIO_PHONE}` }, 'send');
      await postSend(app, TWILIO_PHONE).expect(202);
      const failoverCode = app.codeFor(TWILIO_PHONE);

      // Limits, a lock and refused destinations emit their events.
      const locked = freshMobile();
      await postSend(app, locked).expect(202);
      const lockedCode = app.codeFor(locked);
      for (let i = 1; i <= 3; i += 1) await verify(locked, wrongCode(lockedCode, i)).expect(422);
      await verify(locked, lockedCode).expect(429);
      const capped = freshMobile();
      for (let i = 0; i < 3; i += 1) await postSend(app, capped).expect(202);
      await postSend(app, capped).expect(429);
      await postSend(app, BLOCKED_SAMPLES.PREMIUM_RATE).expect(202);

      const codes = [...new Set([...app.sends.map((s) => s.code), twilioCode, ...typed, failoverCode])];
      const phones = [plain, ECHO_PHONE, MADA_PHONE, TWILIO_PHONE, locked, capped, BLOCKED_SAMPLES.PREMIUM_RATE];
      // Verification tokens are secrets too (bearer credentials).
      const secrets = [TEST_SECRET, twilio.authToken, mada.password, ok.body.token as string];
      assert.ok(codes.length >= 10, `codes under scan: ${codes.length}`);
      for (const name of ['failed', 'verify-failed', 'limit-hit', 'number-locked', 'send-refused', 'verified', 'sent']) {
        assert.ok(app.events.some((e) => e.name === name), `the flow emitted ${name}`);
      }

      // Every column of every table.
      const dump: string[] = [];
      for (const table of await tableNames(app.db.knex, kind)) {
        for (const row of (await app.db.knex(table).select()) as Record<string, unknown>[]) {
          for (const [column, value] of Object.entries(row)) if (value !== null) dump.push(`${table}.${column}=${cellText(value)}`);
        }
      }
      assert.ok(dump.some((cell) => cell.startsWith('otp_requests.code_digest=')), 'the dump covers the request table');
      for (const cell of dump) {
        // The digest and the sealed code are random-looking by construction (a 64-hex HMAC can hold any
        // six digits by chance): check their shape instead of scanning them for digit runs.
        if (/^otp_requests\.code_(digest|cipher)=/.test(cell)) {
          // A consumed or superseded code's digest is spent (SPENT_DIGEST, or a consume batch's tagged one), an ended one's cleared.
          assert.match(cell, /^otp_requests\.code_digest=(?:[0-9a-f]{64}|-{16}(?:-{16}|[0-9a-f]{16})|)$|^otp_requests\.code_cipher=v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
          continue;
        }
        for (const code of codes) assert.doesNotMatch(cell, standalone(code), `code ${code} in ${cell.slice(0, 200)}`);
        for (const secret of secrets) assert.ok(!cell.includes(secret), `a secret in ${cell.slice(0, 80)}`);
      }
      // Columns that echo provider traffic keep numbers masked (phone, limits keys and the failure budget key on the number by design).
      for (const cell of dump.filter((c) => /^otp_requests\.(provider_request|provider_response|last_error)=/.test(c))) {
        for (const phone of phones) assert.ok(!cell.includes(phone.slice(1)), `full number in ${cell}`);
      }
      assert.ok(dump.some((c) => c.startsWith('otp_requests.last_error=') && c.includes('Echo')), 'the echoing failure was recorded (redacted)');

      // Every log line and every event.
      const lines = [...app.logs, ...app.events.map((e) => `${e.name} ${JSON.stringify(e.payload)}`)];
      assert.ok(app.logs.some((l) => l.includes('otp provider failed')) && app.logs.some((l) => l.includes('otp provider check failed')), 'the failures were logged');
      for (const line of lines) {
        for (const code of codes) assert.doesNotMatch(line, standalone(code), `code ${code} in: ${line}`);
        for (const phone of phones) assert.ok(!line.includes(phone.slice(1)), `full number ${phone} in: ${line}`);
        for (const secret of secrets) assert.ok(!line.includes(secret), `a secret in: ${line}`);
        assert.ok(!/[\r\n]/.test(line), `a line break in: ${JSON.stringify(line)}`);
      }
      // #34: one structured event per limit trip or lockout.
      assert.equal(app.eventsNamed('number-locked').length, 1);
      assert.deepEqual(app.eventsNamed('limit-hit').map((e) => e.limit), ['verifyLock', 'sendsPerNumber']);
    } finally {
      mada.setReplies([]);
      await app.close();
    }
  });
});
