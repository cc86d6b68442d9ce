/**
 * The retry flow through the example app itself (`npm start` = examples/basic-app.ts), configured
 * only by environment variables as a user would, on every database, against the loopback Mada
 * gateway: the gateway fails twice and the third try delivers a code that verifies and unlocks the
 * guarded route; a gateway that always fails gets exactly 1 + OTP_SMS_MAX_RETRIES attempts and the
 * row ends unsendable. SIGTERM stops the poller and the app cleanly.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import { forEachDatabase } from '../helpers/db.js';
import { startMadaFake, type MadaFake } from '../helpers/fakes/mada-fake.js';
import { TEST_SECRET } from '../helpers/kit.js';
import { sleep, waitFor } from '../helpers/worker-utils.js';

const APP = fileURLToPath(new URL('../../examples/basic-app.ts', import.meta.url));
const MAX_RETRIES = 2;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

forEachDatabase('example app with OTP_SMS_RETRY', (db) => {
  let mada: MadaFake;
  let app: ChildProcess | undefined;
  const output: string[] = [];

  before(async () => {
    mada = await startMadaFake();
  });
  after(async () => {
    app?.kill('SIGKILL');
    await mada.close();
  });

  it('retries through the poller: fails twice then verifies; always failing ends unsendable after 1 + max_retries attempts', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', APP], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        PORT: String(port),
        DATABASE_URL: db().url,
        OTP_SECRET: TEST_SECRET,
        OTP_SMS_PROVIDER: 'Mada',
        OTP_SMS_RETRY: 'true',
        OTP_SMS_MAX_RETRIES: String(MAX_RETRIES),
        MADA_URL: mada.url,
        MADA_USERNAME: mada.username,
        MADA_PASSWORD: mada.password,
        MADA_SOURCE_NAME: 'MyBrand',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app = child;
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    child.stderr?.setEncoding('utf8').on('data', (c: string) => output.push(c));
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (l) => output.push(`${l}\n`));
    await waitFor('the app to listen', () => output.some((l) => l.includes('OTP example listening')), 30_000, 20).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${output.join('')}`);
    });

    // 1. RSYSERR (8, retryable) twice, then accepted.
    mada.setReplies([8, 8, 0]);
    const phone = '+359871234567';
    const sent = await post(base, '/otp/sms', { phone, purpose: 'delete-account' });
    assert.equal(sent.status, 202);
    assert.equal(sent.body.status, 'queued', 'the first attempt failed; the request waits for the poller');
    const code = await waitFor('the third attempt to deliver', () => mada.lastCodeTo(phone), 20_000, 50);
    const texts = mada.requests.filter((r) => r.destination?.addr === phone.slice(1)).map((r) => r.text);
    assert.equal(texts.length, 3);
    assert.equal(new Set(texts).size, 1, 'every attempt carried the same text and code');
    assert.deepEqual(mada.requests.map((r) => r.commandStatus), ['8', '8', '0']);
    const verified = await post(base, '/otp/verify', { phone, code, purpose: 'delete-account' });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.equal(verified.body.codeValid, true);
    const guarded = await post(base, '/account/delete', {}, { Authorization: `Bearer ${String(verified.body.token)}` });
    assert.deepEqual([guarded.status, guarded.body.deleted], [200, true]);
    const row = await db().knex('otp_requests').where({ phone }).first();
    assert.deepEqual([row.status, Number(row.send_attempts), row.provider], ['sent', 3, 'Mada']);

    // 2. The gateway always fails: 1 + max_retries attempts, then unsendable.
    mada.setReplies([], 8);
    const other = '+359881234567';
    const queued = await post(base, '/otp/sms', { phone: other });
    assert.deepEqual([queued.status, queued.body.status], [202, 'queued']);
    const dead = await waitFor(
      'the row to become unsendable',
      async () => {
        const r = await db().knex('otp_requests').where({ phone: other }).first();
        return r?.status === 'unsendable' ? r : undefined;
      },
      20_000,
      50,
    );
    const attempts = (): number => mada.requests.filter((r) => r.destination?.addr === other.slice(1)).length;
    assert.equal(attempts(), 1 + MAX_RETRIES);
    assert.equal(Number(dead.send_attempts), 1 + MAX_RETRIES);
    assert.deepEqual([dead.next_attempt_at, dead.lease_token, dead.code_cipher], [null, null, null]);
    assert.match(String(dead.last_error), /Mada\[8\]/);
    await sleep(1500);
    assert.equal(attempts(), 1 + MAX_RETRIES, 'no attempt after unsendable');
    const refused = await post(base, '/otp/verify', { phone: other, code: '000000' });
    assert.equal(refused.status, 422, 'an undelivered code cannot be verified');

    child.kill('SIGTERM');
    const [exitCode, signal] = await exited;
    app = undefined;
    assert.deepEqual([exitCode, signal], [0, null], output.join(''));
    assert.ok(output.some((l) => l.includes('SIGTERM: shutting down')));
    assert.ok(!output.join('').includes(code), 'the code never reaches the logs');
  });
});
