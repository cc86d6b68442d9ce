/**
 * The packed kit in two consumer apps, one on Express 4.21 and one on Express 5, each installed
 * with a plain `npm install` (no flags: the peer ranges must accept both majors) next to knex and
 * one pure-JS driver (mysql2, or pg when MariaDB is not under test), and no provider SDK. Each
 * routes to Mada (a loopback fake of the gateway) and runs send -> verify -> guard over HTTP,
 * including the async error paths Express 4 would never catch by itself; naming Twilio or Sinch
 * without its SDK fails at startup with the package to install. The Express 5 app then installs
 * twilio and sends through it. About 60-120 s, mostly npm install.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';
import { fakeEnv, startFakes, type Fakes } from '../integration/harness.js';
import { APP, STARTUP, STARTUP_CJS, TYPES_CJS, TYPES_GUARD, tsconfig } from './helpers/consumer-scripts.js';
import { cleanEnv, footprint, lastJson, lockedVersion, npmMissing, packKit, ROOT, run, startApp, type Packed } from './helpers/consumer.js';

const kind = DB_KINDS.includes('mysql') ? 'mysql' : DB_KINDS.includes('postgres') ? 'postgres' : undefined;
const skipReason = npmMissing() ?? (kind === undefined ? 'needs MariaDB or PostgreSQL under test (a pure-JS driver installs without flags)' : undefined);

let work = '';
let packed: Packed | undefined;
let fakes: Fakes | undefined;

async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  // A handler error Express 4 never caught would leave the request hanging: fail it in 10 s instead.
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function errorCode(body: Record<string, unknown>): unknown {
  return (body.error as { code?: unknown } | undefined)?.code;
}

/** send -> wrong code -> right code -> guard -> spent token, plus the refusals, on a running app. */
async function exampleFlow(base: string, phone: string, codeOf: () => string): Promise<void> {
  const sent = await post(base, '/otp/sms', { phone, purpose: 'delete-account' });
  assert.deepEqual([sent.status, sent.body.status], [202, 'sent']);
  const code = codeOf();
  const wrong = await post(base, '/otp/verify', { phone, code: code === '000000' ? '111111' : '000000' });
  assert.deepEqual([wrong.status, errorCode(wrong.body), (wrong.body.error as { attemptsLeft?: unknown }).attemptsLeft], [422, 'OTP_INVALID', 4]);
  const verified = await post(base, '/otp/verify', { phone, code });
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  const auth = { authorization: `Bearer ${String(verified.body.token)}` };
  assert.deepEqual(await post(base, '/account/delete', {}, auth), { status: 200, body: { deleted: true, phone } });
  const again = await post(base, '/account/delete', {}, auth);
  assert.deepEqual([again.status, errorCode(again.body)], [401, 'OTP_TOKEN_USED']);
}

void describe('package: Express 4 and 5 consumers without provider SDKs', { skip: skipReason ?? false, timeout: 600_000 }, () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'otp-majors-'));
    [packed, fakes] = await Promise.all([packKit(work), startFakes()]);
  });

  after(async () => {
    await fakes?.close();
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  for (const major of [4, 5] as const) {
    void describe(`Express ${major}`, () => {
      const dir = (): string => join(work, `express${major}`);
      const phone = major === 4 ? '+359871234504' : '+359871234505';
      let db: TestDatabase | undefined;
      const env = (routing: string): NodeJS.ProcessEnv => cleanEnv({ ...fakeEnv(fakes!, routing), DATABASE_URL: db!.url });

      before(async () => {
        db = await createTestDatabase(kind ?? 'sqlite');
        mkdirSync(dir());
        const driver = kind === 'mysql' ? 'mysql2' : 'pg';
        const dependencies = {
          'express-otp-kit': `file:${packed!.tarball}`,
          express: major === 4 ? '~4.21.2' : `^${lockedVersion('express')}`,
          knex: `^${lockedVersion('knex')}`,
          [driver]: `^${lockedVersion(driver)}`,
          '@types/express': major === 4 ? '^4.17.21' : `^${lockedVersion('@types/express')}`,
          '@types/node': `^${lockedVersion('@types/node')}`,
        };
        writeFileSync(join(dir(), 'package.json'), JSON.stringify({ name: `otp-express${major}`, version: '1.0.0', private: true, type: 'module', dependencies }, null, 2));
        await run('npm', ['install'], dir(), 300_000);
        writeFileSync(join(dir(), 'app.mjs'), APP);
        writeFileSync(join(dir(), 'startup.mjs'), STARTUP);
        writeFileSync(join(dir(), 'startup.cjs'), STARTUP_CJS);
      });

      after(async () => {
        await db?.destroy();
      });

      it('installs with plain npm install: the wanted Express, no provider SDK', (t) => {
        const nm = join(dir(), 'node_modules');
        assert.ok(existsSync(join(nm, 'express-otp-kit', 'dist', 'cli.js')));
        assert.equal(existsSync(join(nm, 'twilio')), false, 'twilio is not installed');
        assert.equal(existsSync(join(nm, '@sinch')), false, '@sinch/* is not installed');
        const size = footprint(nm);
        t.diagnostic(`node_modules of express ${major}, knex, ${kind === 'mysql' ? 'mysql2' : 'pg'}, @types and the kit: ${size.packages} packages, ${size.megabytes} MB`);
      });

      it('routes to Mada: send -> verify -> guard, and the async error paths answer', async () => {
        const app = await startApp(dir(), 'app.mjs', env('Mada'));
        try {
          assert.match(String(app.info.express), new RegExp(`^${major}\\.`));
          await exampleFlow(app.base, phone, () => fakes!.codeFor('Mada', phone));
          // Errors thrown inside the kit's async handlers reach its error handler on both majors.
          const invalid = await post(app.base, '/otp/sms', { phone: '12' });
          assert.deepEqual([invalid.status, errorCode(invalid.body), (invalid.body.error as { field?: unknown }).field], [400, 'VALIDATION_FAILED', 'phone']);
          const call = await post(app.base, '/otp/call', { phone: major === 4 ? '+359881234504' : '+359881234505' });
          assert.deepEqual([call.status, errorCode(call.body)], [422, 'CHANNEL_UNSUPPORTED']);
          const notJson = await post(app.base, '/otp/sms', 'phone=1', { 'content-type': 'text/plain' });
          assert.deepEqual([notJson.status, errorCode(notJson.body)], [415, 'UNSUPPORTED_MEDIA_TYPE']);
          const badQuery = await fetch(`${app.base}/admin/otp/requests?limit=abc`, { signal: AbortSignal.timeout(10_000) });
          assert.deepEqual([badQuery.status, errorCode((await badQuery.json()) as Record<string, unknown>)], [400, 'VALIDATION_FAILED']);
          const listed = (await (await fetch(`${app.base}/admin/otp/requests`)).json()) as { requests: unknown[] };
          assert.ok(listed.requests.length >= 1);
          // The dashboard on both majors: its page, the trailing-slash redirect, and query checks
          // (Express 4's qs turns groupBy[a] into an object, Express 5 keeps it as a name).
          const page = await fetch(`${app.base}/admin/otp/`, { signal: AbortSignal.timeout(10_000) });
          assert.deepEqual([page.status, page.headers.get('content-security-policy')?.startsWith("default-src 'none'")], [200, true]);
          const bare = await fetch(`${app.base}/admin/otp`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
          assert.deepEqual([bare.status, bare.headers.get('location')], [301, '/admin/otp/']);
          for (const query of ['groupBy[a]=country', 'groupBy=country&groupBy=day', 'groupBy=email', 'from=soon']) {
            const bad = await fetch(`${app.base}/admin/otp/insights?${query}`, { signal: AbortSignal.timeout(10_000) });
            const body = (await bad.json()) as Record<string, unknown>;
            assert.deepEqual([bad.status, errorCode(body)], [400, 'VALIDATION_FAILED'], `${query}: ${JSON.stringify(body)}`);
            assert.match(String((body.error as { field?: unknown }).field), /^(groupBy|from)/);
          }
        } finally {
          await app.stop();
        }
      });

      it('naming Twilio or Sinch without its SDK fails at startup, naming the package (ESM and CommonJS)', async () => {
        const twilio = lastJson((await run(process.execPath, ['startup.mjs'], dir(), 60_000, env('Mada;Twilio'))).stdout);
        assert.equal(twilio.code, 'CONFIG_INVALID');
        assert.match(String(twilio.message), /provider Twilio is routed but its SDK twilio is not installed: run `npm install twilio`/);
        const sinch = lastJson((await run(process.execPath, ['startup.cjs'], dir(), 60_000, env('Sinch'))).stdout);
        assert.match(String(sinch.message), /provider Sinch is routed but its SDK @sinch\/sdk-core is not installed: run `npm install @sinch\/sdk-core@1\.4\.0`/);
        assert.deepEqual(lastJson((await run(process.execPath, ['startup.cjs'], dir(), 60_000, env('Mada'))).stdout), { started: true });
      });

      it('the CLI: routing set refuses Twilio, status (ready()) reports a row naming it', async () => {
        const cliEnv = { ...env('Mada'), OTP_SMS_PROVIDER: '' };
        const set = await run('npx', ['express-otp-kit', 'routing', 'set', 'Twilio'], dir(), 60_000, cliEnv, true);
        assert.equal(set.code, 1);
        assert.match(set.stderr, /npm install twilio/);
        await db!.knex('otp_settings').insert({ key: 'otp_sms_provider', value: 'Mada;Twilio' });
        const status = await run('npx', ['express-otp-kit', 'status'], dir(), 60_000, cliEnv, true);
        assert.equal(status.code, 3, status.stdout + status.stderr);
        assert.match(status.stdout, /ready: {6}no, provider Twilio is routed but its SDK twilio is not installed: run `npm install twilio`/);
        assert.equal((await run('npx', ['express-otp-kit', 'routing', 'set', 'Mada'], dir(), 60_000, cliEnv)).code, 0);
      });

      it('type-checks a guarded handler with this major\'s types: moduleResolution bundler and node16', async () => {
        writeFileSync(join(dir(), 'guard.ts'), TYPES_GUARD);
        writeFileSync(join(dir(), 'guard.mts'), TYPES_GUARD);
        writeFileSync(join(dir(), 'lib.cts'), TYPES_CJS);
        const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
        writeFileSync(join(dir(), 'tsconfig.bundler.json'), tsconfig('bundler', ['guard.ts']));
        writeFileSync(join(dir(), 'tsconfig.node16.json'), tsconfig('node16', ['guard.mts', 'lib.cts']));
        for (const project of ['tsconfig.bundler.json', 'tsconfig.node16.json']) {
          const checked = await run(process.execPath, [tsc, '-p', project], dir(), 120_000, cleanEnv(), true);
          assert.equal(checked.code, 0, `${project}:\n${checked.stdout}${checked.stderr}`);
        }
      });

      if (major === 5) {
        it('with twilio installed, the same app sends and verifies through the real SDK', async (t) => {
          await run('npm', ['install', `twilio@${lockedVersion('twilio')}`], dir(), 300_000);
          const size = footprint(join(dir(), 'node_modules'));
          t.diagnostic(`with twilio: ${size.packages} packages, ${size.megabytes} MB`);
          const app = await startApp(dir(), 'app.mjs', env('Twilio'));
          try {
            await exampleFlow(app.base, '+359871234515', () => fakes!.codeFor('Twilio', '+359871234515'));
          } finally {
            await app.stop();
          }
        });
      }
    });
  }
});
