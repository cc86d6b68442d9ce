/**
 * What the kit costs a consumer, measured as the README measures it: an app with express, knex and
 * mysql2 (`npm install`, no `@types`) before and after `npm install express-otp-kit` (the packed
 * tarball). Packages are counted with `npm ls --all --parseable`, the size of node_modules with
 * `du -sk` (blocks on disk). The kit may add at most 20 MB and 15 packages; the tarball is at most
 * 300 KB and ships no source map and no CommonJS build of the CLI. Both declaration files stay
 * (dist/index.d.ts for import, dist/index.d.cts for require): a `.cts` consumer under `node16`
 * cannot require an ES-module declaration (TS1479), and pointing `import` at the CommonJS one would
 * describe the ES build as CommonJS; the second one costs about 15 KB packed.
 *
 * The same consumer has neither better-sqlite3 nor prom-client, so it also checks the one-line
 * errors for both: the CLI falling back to SQLite, and `otpMetrics()`. With MariaDB under test it
 * sends through Mada (node-fetch 2) from an ES module and from CommonJS.
 * About 20-60 s (npm install, mostly from the npm cache).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, DB_KINDS, type TestDatabase } from '../helpers/db.js';
import { fakeEnv, startFakes } from '../integration/harness.js';
import { cleanEnv, lastJson, lockedVersion, npmMissing, packKit, run, type Packed } from './helpers/consumer.js';

const MAX_ADDED_MB = 20;
const MAX_ADDED_PACKAGES = 15;
const MAX_TARBALL_KB = 300;

interface Footprint {
  readonly packages: number;
  readonly megabytes: number;
}

/** `npm ls --all --parseable` lines (one per installed package, plus the project) and `du -sk node_modules`. */
async function measure(dir: string): Promise<Footprint> {
  const listed = await run('npm', ['ls', '--all', '--parseable'], dir, 60_000, undefined, true);
  const packages = listed.stdout.split('\n').filter((line) => line.trim() !== '').length - 1;
  const kilobytes = Number(execFileSync('du', ['-sk', join(dir, 'node_modules')], { encoding: 'utf8' }).split('\t')[0]);
  return { packages, megabytes: Math.round(kilobytes / 102.4) / 10 };
}

function duMissing(): string | undefined {
  try {
    execFileSync('du', ['--version'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return 'du is not available';
  }
}

const skipReason = npmMissing() ?? duMissing();

/** otpMetrics without prom-client installed, from either module kind: prints the error's code and message. */
const METRICS_ESM = `
import { createOtp, otpMetrics } from 'express-otp-kit';
const otp = createOtp({ db: 'mysql://nobody@127.0.0.1:1/none', providers: ['Console'], env: {} });
try { otpMetrics(otp); console.log(JSON.stringify({ threw: false })); } catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }
await otp.close();
`;
const METRICS_CJS = METRICS_ESM.replace("import { createOtp, otpMetrics } from 'express-otp-kit';", "const { createOtp, otpMetrics } = require('express-otp-kit');").replace('await otp.close();', 'otp.close();');

/** Sends one code through Mada (the kit's node-fetch 2 call) from the module kind of the file name. */
function madaScript(esm: boolean, phone: string): string {
  const load = esm ? "import { createOtp } from 'express-otp-kit';" : "const { createOtp } = require('express-otp-kit');";
  const body = `const otp = createOtp({ db: process.env.DATABASE_URL, providers: ['Mada'] });
  await otp.ready();
  const sent = await otp.sendSms('${phone}');
  console.log(JSON.stringify({ status: sent.status, provider: sent.provider }));
  await otp.close();`;
  return esm ? `${load}\n${body}\n` : `${load}\n(async () => {\n${body}\n})().catch((error) => { console.error(error); process.exit(1); });\n`;
}

void describe('package: footprint of the kit in a consumer, and the tarball', { skip: skipReason ?? false, timeout: 400_000 }, () => {
  let work = '';
  let packed: Packed | undefined;
  let consumer = '';
  let base: Footprint | undefined;
  let withKit: Footprint | undefined;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'otp-footprint-'));
    consumer = join(work, 'consumer');
    packed = await packKit(work);
    execFileSync('mkdir', [consumer]);
    const dependencies = { express: lockedVersion('express'), knex: lockedVersion('knex'), mysql2: lockedVersion('mysql2') };
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'otp-footprint', version: '1.0.0', private: true, dependencies }, null, 2));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], consumer, 240_000);
    base = await measure(consumer);
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', packed.tarball], consumer, 240_000);
    withKit = await measure(consumer);
  });

  after(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it(`the kit adds at most ${MAX_ADDED_MB} MB and ${MAX_ADDED_PACKAGES} packages to an express + knex + mysql2 app`, (t) => {
    const addedPackages = withKit!.packages - base!.packages;
    const addedMb = Math.round((withKit!.megabytes - base!.megabytes) * 10) / 10;
    t.diagnostic(`express + knex + mysql2: ${base!.packages} packages, ${base!.megabytes} MB; with the kit: ${withKit!.packages} packages, ${withKit!.megabytes} MB (+${addedPackages}, +${addedMb} MB)`);
    assert.ok(addedPackages <= MAX_ADDED_PACKAGES, `the kit adds ${addedPackages} packages (at most ${MAX_ADDED_PACKAGES})`);
    assert.ok(addedMb <= MAX_ADDED_MB, `the kit adds ${addedMb} MB (at most ${MAX_ADDED_MB})`);
    for (const absent of ['prom-client', 'web-streams-polyfill', 'fetch-blob', 'better-sqlite3', 'twilio']) {
      assert.throws(() => statSync(join(consumer, 'node_modules', absent)), `${absent} is not installed`);
    }
  });

  it(`the tarball is at most ${MAX_TARBALL_KB} KB, without source maps or unused builds`, (t) => {
    const kb = Math.round(statSync(packed!.tarball).size / 1024);
    t.diagnostic(`tarball: ${kb} KB, ${packed!.files.length} files`);
    assert.ok(kb <= MAX_TARBALL_KB, `the tarball is ${kb} KB (at most ${MAX_TARBALL_KB})`);
    assert.deepEqual(packed!.files.filter((f) => f.endsWith('.map')), [], 'no source maps');
    assert.equal(packed!.files.includes('dist/cli.cjs'), false, 'no CommonJS build of the CLI (bin runs dist/cli.js)');
    assert.deepEqual(packed!.files.filter((f) => /^dist\/.*\.d\.c?ts$/.test(f)), ['dist/index.d.cts', 'dist/index.d.ts'], 'one declaration file per module kind');
    assert.equal(packed!.files.includes('docs/benchmarks.md'), true);
  });

  it('the CLI without better-sqlite3 (DATABASE_URL unset: SQLite) fails in one line naming the npm install', async () => {
    const env = cleanEnv();
    delete env.DATABASE_URL;
    const status = await run('npx', ['express-otp-kit', 'status'], consumer, 60_000, env, true);
    assert.equal(status.code, 1, status.stdout + status.stderr);
    assert.deepEqual(status.stderr.trim().split('\n'), [
      'express-otp-kit: the database driver better-sqlite3 is not installed (database sqlite:./otp.sqlite, the default when DATABASE_URL is not set): run `npm install better-sqlite3`, or set DATABASE_URL to your database (mysql://…, postgres://…)',
    ]);
  });

  it('otpMetrics without prom-client throws CONFIG_INVALID naming `npm install prom-client` (ESM and CommonJS)', async () => {
    writeFileSync(join(consumer, 'metrics.mjs'), METRICS_ESM);
    writeFileSync(join(consumer, 'metrics.cjs'), METRICS_CJS);
    for (const script of ['metrics.mjs', 'metrics.cjs']) {
      const out = lastJson((await run(process.execPath, [script], consumer, 60_000)).stdout);
      assert.equal(out.code, 'CONFIG_INVALID', script);
      assert.match(String(out.message), /run `npm install prom-client`/, script);
    }
  });

  it('Mada sends through node-fetch 2 from an ES module and from CommonJS', { skip: DB_KINDS.includes('mysql') ? false : 'needs MariaDB under test (the consumer has mysql2 only)' }, async () => {
    const fakes = await startFakes();
    let db: TestDatabase | undefined;
    try {
      db = await createTestDatabase('mysql');
      const env = cleanEnv({ ...fakeEnv(fakes, 'Mada'), DATABASE_URL: db.url });
      await run('npx', ['express-otp-kit', 'migrate'], consumer, 60_000, env);
      for (const [file, esm, phone] of [['mada.mjs', true, '+359871234571'], ['mada.cjs', false, '+359871234572']] as const) {
        writeFileSync(join(consumer, file), madaScript(esm, phone));
        const out = lastJson((await run(process.execPath, [file], consumer, 60_000, env)).stdout);
        assert.deepEqual(out, { status: 'sent', provider: 'Mada' }, file);
        assert.match(fakes.codeFor('Mada', phone), /^[0-9]{6}$/);
      }
    } finally {
      await db?.destroy();
      await fakes.close();
    }
  });
});
