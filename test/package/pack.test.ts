/**
 * The package as users get it: `npm pack` (its prepack script builds dist/), the tarball installed
 * into a throwaway project in the temp directory next to express, knex and better-sqlite3, then
 * used from ESM, from CommonJS, from TypeScript (both module kinds), from the consumer's own Knex
 * CLI and through the kit's own `npx express-otp-kit`. Slow-ish (npm install, mostly from the npm
 * cache): about 20-40 s. Express 4 and 5 consumers without provider SDKs: express-majors.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { otpMigrationSource } from '../../lib/storage/migrations.js';
import { TYPES_CJS } from './helpers/consumer-scripts.js';
import { cleanEnv, lastJson, lockedVersion, npmMissing, packKit, ROOT, run } from './helpers/consumer.js';

const SECRET = 'consumer-secret-0123456789-abcdefghijk';

/** Drives the whole kit through the installed package: migrate, router, send, verify, guard. */
const ESM_CONSUMER = `
import express from 'express';
import knexFactory from 'knex';
import { createOtp, otpRouter, requireVerifiedOtp, otpErrorHandler, otpInsightsRouter, OtpError } from 'express-otp-kit';

const lines = [];
const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: './esm.sqlite' }, useNullAsDefault: true });
const otp = createOtp({ db: knex, secret: '${SECRET}', providers: ['Console'], console: { write: (line) => lines.push(line) }, env: {} });
await otp.migrate();
await otp.ready();
const app = express();
app.use('/otp', otpRouter(otp));
app.use('/admin/otp', otpInsightsRouter(otp));
app.post('/guarded', requireVerifiedOtp(otp, { purpose: 'delete-account' }), (req, res) => res.json({ phone: req.otp.phone }));
app.use(otpErrorHandler());
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = 'http://127.0.0.1:' + server.address().port;
const post = (path, body, headers = {}) => fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const sent = await post('/otp/sms', { phone: '+359871234567', purpose: 'delete-account' });
const code = /^OTP ([0-9]+) /.exec(lines.at(-1) ?? '')?.[1];
const wrong = await post('/otp/verify', { phone: '+359871234567', code: code === '000000' ? '111111' : '000000' });
const verified = await post('/otp/verify', { phone: '+359871234567', code });
const { token } = await verified.json();
const guarded = await post('/guarded', {}, { authorization: 'Bearer ' + token });
const openapi = await fetch(base + '/otp/openapi.json');
const dashboard = await Promise.all(['/admin/otp/', '/admin/otp/dashboard.js', '/admin/otp/dashboard.css', '/admin/otp/insights?groupBy=country'].map(async (path) => {
  const res = await fetch(base + path);
  return [res.status, (res.headers.get('content-type') ?? '').split(';')[0]];
}));
let threw;
try { createOtp({ db: knex, codeLenght: 6 }); } catch (error) { threw = error; }
console.log(JSON.stringify({
  resolved: import.meta.resolve('express-otp-kit'),
  sent: sent.status,
  wrong: [wrong.status, (await wrong.json()).error.attemptsLeft],
  verified: verified.status,
  guarded: [guarded.status, await guarded.json()],
  openapi: [openapi.status, (await openapi.json()).openapi],
  dashboard,
  configError: [threw instanceof OtpError, threw?.code],
}));
server.close();
await otp.close();
await knex.destroy();
`;

/** The library API from require(): send, verify, the error class. */
const CJS_CONSUMER = `
const knexFactory = require('knex');
const kit = require('express-otp-kit');
const { createOtp, OtpError, isOtpError, otpRouter, otpInsightsRouter, OTP_MIGRATIONS_TABLE } = kit;

async function main() {
  const lines = [];
  const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: './cjs.sqlite' }, useNullAsDefault: true });
  const otp = createOtp({ db: knex, secret: '${SECRET}', providers: ['Console'], console: { write: (line) => lines.push(line) }, env: {} });
  await otp.migrate();
  await otp.ready();
  const sent = await otp.sendSms({ number: '+359871234567' });
  const code = /^OTP ([0-9]+) /.exec(lines.at(-1) || '')[1];
  const result = await otp.verify({ number: '+359871234567' }, code);
  let threw;
  try { await otp.verify('+359871234567', 'abc'); } catch (error) { threw = error; }
  const migrations = await knex(OTP_MIGRATIONS_TABLE).select('name');
  console.log(JSON.stringify({
    resolved: require.resolve('express-otp-kit'),
    version: require('express-otp-kit/package.json').version,
    sent: [sent.status, sent.provider, typeof sent.code],
    verified: [result.requestValid, result.codeValid, typeof result.token],
    validation: [threw instanceof OtpError, isOtpError(threw), threw && threw.code],
    router: typeof otpRouter(otp),
    dashboard: typeof otpInsightsRouter(otp),
    migrations: migrations.map((m) => m.name),
  }));
  await otp.close();
  await knex.destroy();
}
main().catch((error) => { console.error(error); process.exit(1); });
`;

/** The consumer's own Knex CLI runs the kit's migrations through otpMigrationSource(). */
const KNEXFILE = `
const { otpMigrationSource, OTP_MIGRATIONS_TABLE } = require('express-otp-kit');
module.exports = {
  client: 'better-sqlite3',
  connection: { filename: './cli.sqlite' },
  useNullAsDefault: true,
  migrations: { migrationSource: otpMigrationSource(), tableName: OTP_MIGRATIONS_TABLE },
};
`;

const KNEXFILE_ESM = `
import { otpMigrationSource, OTP_MIGRATIONS_TABLE } from 'express-otp-kit';
export default {
  client: 'better-sqlite3',
  connection: { filename: './cli-esm.sqlite' },
  useNullAsDefault: true,
  migrations: { migrationSource: otpMigrationSource(), tableName: OTP_MIGRATIONS_TABLE },
};
`;

const AFTER_CLI = `
import knexFactory from 'knex';
import { createOtp } from 'express-otp-kit';
const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: './cli.sqlite' }, useNullAsDefault: true });
const otp = createOtp({ db: knex, secret: '${SECRET}', providers: ['Console'], console: { write: () => {} }, env: {} });
await otp.ready();
const sent = await otp.sendSms('+359871234567');
console.log(JSON.stringify({ ready: true, sent: sent.status }));
await otp.close();
await knex.destroy();
`;

/** Typed use from an ES module; @ts-expect-error lines fail the check if the types were `any`. */
const TYPES_ESM = `
import express from 'express';
import { createOtp, otpRouter, otpInsightsRouter, requireVerifiedOtp, otpMigrationSource, type Otp, type InsightsQuery, type InsightsReport, type VerifyResult } from 'express-otp-kit';
const otp: Otp = createOtp({ db: 'sqlite::memory:', providers: ['Console'] });
const app = express();
app.use('/otp', otpRouter(otp));
app.use('/admin/otp', otpInsightsRouter(otp));
app.post('/guarded', requireVerifiedOtp(otp, { purpose: 'delete-account' }), (req, res) => {
  const phone: string | undefined = req.otp?.phone;
  res.json({ phone });
});
export const pending: Promise<VerifyResult> = otp.verify('+359871234567', '123456');
export const source = otpMigrationSource({ requests: 'my_otp_requests' });
// @ts-expect-error misspelled option
createOtp({ codeLenght: 6 });
export const conversion = (report: InsightsReport): number | null => report.totals.conversionRate;
// @ts-expect-error a dimension the Insights contract does not know
export const query: InsightsQuery = { from: new Date(), to: new Date(), groupBy: ['email'] };
// @ts-expect-error the channel is 'sms' | 'call'
void otp.send('+359871234567', 'email');
`;

/** The names of the kit's migrations, from the source tree: the package must ship the same ones. */
async function migrationNames(): Promise<string[]> {
  const source = otpMigrationSource();
  return (await source.getMigrations([])).map((m) => source.getMigrationName(m));
}

const skipReason = npmMissing();

void describe('package: npm pack, install and import', { skip: skipReason ?? false, timeout: 300_000 }, () => {
  let work = '';
  let consumer = '';
  let files: readonly string[] = [];
  let tarball = '';

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'otp-pack-'));
    consumer = join(work, 'consumer');
    mkdirSync(consumer);
    // prepack builds dist/ (tsup --silent keeps stdout clean for --json).
    ({ tarball, files } = await packKit(work));
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'otp-consumer', version: '1.0.0', private: true }, null, 2));
    const pinned = (name: string): string => `${name}@${lockedVersion(name)}`;
    // --ignore-scripts: better-sqlite3 would compile its native addon for ~45 s on two cores; the
    // repo already holds the same version built for this Node, so its binary is copied below.
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball,
        pinned('express'), pinned('knex'), pinned('better-sqlite3'), pinned('@types/express'), pinned('@types/node')],
      consumer,
      240_000,
    );
    const binary = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    mkdirSync(join(consumer, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true });
    copyFileSync(join(ROOT, binary), join(consumer, binary));
  });

  after(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('the tarball holds the build, types and docs only', () => {
    for (const needed of ['package.json', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts', 'dist/cli.js', 'dist/dashboard/dashboard.html', 'dist/dashboard/dashboard.js', 'dist/dashboard/charts.js', 'dist/dashboard/dashboard.css']) assert.ok(files.includes(needed), `${needed} is packed`);
    const stray = files.filter((f) => !/^(dist\/|docs\/[a-z0-9-]+\.md$|package\.json$|README\.md$|LICENSE$|CHANGELOG\.md$)/.test(f));
    assert.deepEqual(stray, [], 'nothing but dist/, package.json and docs');
    assert.ok(files.includes('docs/security.md'), 'docs/ is packed: the README links to it');
    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules', 'express-otp-kit', 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(manifest.peerDependencies as object).sort(), ['@sinch/sdk-core', 'better-sqlite3', 'express', 'knex', 'mysql2', 'pg', 'prom-client', 'twilio']);
    // Optional peers are not installed for the consumer: only the driver it asked for, no provider SDK, no prom-client.
    for (const absent of ['pg', 'mysql2', 'twilio', '@sinch/sdk-core', 'prom-client']) {
      assert.throws(() => execFileSync(process.execPath, ['-e', `require.resolve('${absent}')`], { cwd: consumer, stdio: 'pipe' }), `${absent} is not installed`);
    }
  });

  it('works from an ES module: migrate, router, send, verify, guard, OpenAPI', async () => {
    writeFileSync(join(consumer, 'esm.mjs'), ESM_CONSUMER);
    const { stdout, stderr } = await run(process.execPath, ['esm.mjs'], consumer, 60_000);
    const out = lastJson(stdout);
    assert.match(String(out.resolved), /node_modules\/express-otp-kit\/dist\/index\.js$/);
    assert.equal(out.sent, 202);
    assert.deepEqual(out.wrong, [422, 4]);
    assert.equal(out.verified, 200);
    assert.deepEqual(out.guarded, [200, { phone: '+359871234567' }]);
    assert.deepEqual(out.openapi, [200, '3.1.0']);
    // The dashboard's page files come from dist/dashboard/; insights answer 501 until the service has them.
    const [page, script, css, insights] = out.dashboard as Array<[number, string]>;
    assert.deepEqual([page, css], [[200, 'text/html'], [200, 'text/css']]);
    assert.ok(script?.[0] === 200 && /javascript$/.test(script[1]), JSON.stringify(script));
    assert.ok(insights?.[0] === 200 || insights?.[0] === 501, JSON.stringify(insights));
    assert.deepEqual(out.configError, [true, 'CONFIG_INVALID']);
    assert.doesNotMatch(stderr, /ExperimentalWarning|DeprecationWarning/);
  });

  it('works from CommonJS (require), including the ESM-only dependencies', async () => {
    writeFileSync(join(consumer, 'cjs.cjs'), CJS_CONSUMER);
    const { stdout, stderr } = await run(process.execPath, ['cjs.cjs'], consumer, 60_000);
    const out = lastJson(stdout);
    assert.match(String(out.resolved), /node_modules\/express-otp-kit\/dist\/index\.cjs$/);
    assert.equal(out.version, (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    assert.deepEqual(out.sent, ['sent', 'Console', 'string']);
    assert.deepEqual(out.verified, [true, true, 'string']);
    assert.deepEqual(out.validation, [true, true, 'VALIDATION_FAILED']);
    assert.equal(out.router, 'function');
    assert.equal(out.dashboard, 'function', 'the CommonJS build finds dist/dashboard/ too');
    assert.deepEqual(out.migrations, await migrationNames());
    assert.doesNotMatch(stderr, /ExperimentalWarning|ERR_REQUIRE_ESM/);
  });

  it("runs the kit's migrations from the consumer's own Knex CLI (CommonJS and ESM knexfiles)", async () => {
    writeFileSync(join(consumer, 'knexfile.cjs'), KNEXFILE);
    const cli = join(consumer, 'node_modules', 'knex', 'bin', 'cli.js');
    const first = await run(process.execPath, [cli, '--knexfile', 'knexfile.cjs', 'migrate:latest'], consumer, 60_000);
    assert.match(first.stdout, new RegExp(`Batch 1 run: ${(await migrationNames()).length} migrations`));
    const again = await run(process.execPath, [cli, '--knexfile', 'knexfile.cjs', 'migrate:latest'], consumer, 60_000);
    assert.match(again.stdout, /Already up to date/);
    writeFileSync(join(consumer, 'knexfile.mjs'), KNEXFILE_ESM);
    const esm = await run(process.execPath, [cli, '--knexfile', 'knexfile.mjs', 'migrate:latest'], consumer, 60_000);
    assert.match(esm.stdout, new RegExp(`Batch 1 run: ${(await migrationNames()).length} migrations`));
    writeFileSync(join(consumer, 'after-cli.mjs'), AFTER_CLI);
    const used = await run(process.execPath, ['after-cli.mjs'], consumer, 60_000);
    assert.deepEqual(JSON.parse(used.stdout.trim().split('\n').at(-1) ?? ''), { ready: true, sent: 'sent' });
  });

  it('ships the express-otp-kit executable: npx express-otp-kit --help, migrate, status', async () => {
    const env = cleanEnv({ DATABASE_URL: 'sqlite:./npx.sqlite', OTP_SECRET: SECRET });
    const help = await run('npx', ['express-otp-kit', '--help'], consumer, 60_000, env);
    assert.match(help.stdout, /^Usage: express-otp-kit <command>/);
    const migrate = await run('npx', ['express-otp-kit', 'migrate', '--json'], consumer, 60_000, env);
    assert.deepEqual(lastJson(migrate.stdout).ran, await migrationNames());
    const status = await run('npx', ['express-otp-kit', 'status', '--json'], consumer, 60_000, env);
    assert.equal(lastJson(status.stdout).ready, true);
    const usage = await run('npx', ['express-otp-kit', 'frobnicate'], consumer, 60_000, env, true);
    assert.deepEqual([usage.code, usage.stderr.split('\n')[0]], [2, 'express-otp-kit: unknown command "frobnicate"']);
  });

  it('type-checks for TypeScript consumers, as ESM (.mts) and as CommonJS (.cts)', async () => {
    writeFileSync(join(consumer, 'types-esm.mts'), TYPES_ESM);
    writeFileSync(join(consumer, 'types-cjs.cts'), TYPES_CJS);
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
        files: ['types-esm.mts', 'types-cjs.cts'],
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '-p', 'tsconfig.json', '--traceResolution'], consumer, 120_000).then(({ stdout }) => {
      assert.match(stdout, /'express-otp-kit' was successfully resolved to '[^']*node_modules\/express-otp-kit\/dist\/index\.d\.ts'/);
      assert.match(stdout, /'express-otp-kit' was successfully resolved to '[^']*node_modules\/express-otp-kit\/dist\/index\.d\.cts'/);
    });
  });
});
