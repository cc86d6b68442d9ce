/**
 * `npm start` (examples/basic-app.ts) with OTP_WEBHOOK_URL and OTP_WEBHOOK_SECRET set delivers the
 * webhooks it writes: a send and its verification reach the receiver as `otp.sent` and
 * `otp.verified`, signed with the secret, on every database.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, it } from 'node:test';
import { forEachDatabase } from '../helpers/db.js';
import { TEST_SECRET } from '../helpers/kit.js';
import { newWebhookSecret, specVerify, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/worker-utils.js';

const APP = fileURLToPath(new URL('../../examples/basic-app.ts', import.meta.url));
const SECRET = newWebhookSecret();

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function post(base: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

forEachDatabase('example app with OTP_WEBHOOK_URL', (db) => {
  let receiver: WebhookReceiver;
  let app: ChildProcess | undefined;
  const output: string[] = [];

  before(async () => {
    receiver = await startWebhookReceiver(() => 200);
  });
  after(async () => {
    app?.kill('SIGKILL');
    await receiver.close();
  });

  it('delivers otp.sent and otp.verified, signed', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', APP], {
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', PORT: String(port), DATABASE_URL: db().url, OTP_SECRET: TEST_SECRET, OTP_SMS_PROVIDER: 'Console', OTP_WEBHOOK_URL: receiver.url, OTP_WEBHOOK_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app = child;
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    child.stderr?.setEncoding('utf8').on('data', (c: string) => output.push(c));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => output.push(`${l}\n`));
    await waitFor('the app to listen', () => output.some((l) => l.includes('OTP example listening')), 30_000, 20).catch((e: unknown) => {
      throw new Error(`${String(e)}\n${output.join('')}`);
    });
    const phone = '+359871234567';
    assert.equal((await post(base, '/otp/sms', { phone })).status, 202);
    const code = await waitFor('the Console provider to print the code', () => /OTP ([0-9]{6}) for \+35987/.exec(output.join(''))?.[1], 10_000, 20);
    assert.equal((await post(base, '/otp/verify', { phone, code })).body.codeValid, true);
    const types = (): string[] => receiver.received.map((r) => (JSON.parse(r.body) as { type: string }).type);
    await waitFor('otp.sent and otp.verified to arrive', () => types().includes('otp.sent') && types().includes('otp.verified'), 20_000, 50);
    assert.ok(receiver.received.every((r) => specVerify(SECRET, r)));
    child.kill('SIGTERM');
    const [exitCode] = await exited;
    app = undefined;
    assert.equal(exitCode, 0, output.join(''));
  });
});
