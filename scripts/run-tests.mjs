#!/usr/bin/env node
// Runs the test suite with node:test (TypeScript through tsx) against every database that answers:
// SQLite always, MariaDB/MySQL and PostgreSQL when reachable. Prints which databases it skipped.
// OTP_TEST_REQUIRE=mysql,postgres makes a missing database an error (CI sets it).
// Arguments narrow the files: `npm test -- test/core test/http/router.test.ts`.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import knexFactory from 'knex';

const MYSQL_URL = process.env.OTP_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const PG_URL = process.env.OTP_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function probe(client, connection) {
  const db = knexFactory({ client, connection, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 3000 });
  try {
    const rows = await db.raw('select version() as v');
    const v = client === 'pg' ? rows.rows[0].v : rows[0][0].v;
    return { ok: true, version: String(v).split(' ').slice(0, 2).join(' ') };
  } catch (error) {
    return { ok: false, why: error.code ?? error.message };
  } finally {
    await db.destroy().catch(() => {});
  }
}

function findTests(paths) {
  const out = [];
  const walk = (p) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) if (e !== 'node_modules' && e !== 'helpers' && e !== 'fixtures') walk(join(p, e));
    } else if (p.endsWith('.test.ts')) out.push(p);
  };
  for (const p of paths) walk(p);
  return out.sort();
}

const only = (process.env.OTP_TEST_ONLY ?? '').split(',').filter(Boolean);
const want = (name) => only.length === 0 || only.includes(name);
const databases = ['sqlite'];
const skipped = [];
for (const [name, client, url] of [['mysql', 'mysql2', MYSQL_URL], ['postgres', 'pg', PG_URL]]) {
  if (!want(name)) { skipped.push(`${name} (not selected by OTP_TEST_ONLY)`); continue; }
  const r = await probe(client, url);
  if (r.ok) { databases.push(name); console.log(`# database ${name}: ${r.version} at ${url.replace(/\/\/[^@]*@/, '//')}`); }
  else skipped.push(`${name} (not reachable at ${url.replace(/\/\/[^@]*@/, '//')}: ${r.why})`);
}
if (!want('sqlite')) databases.shift();
console.log(`# databases under test: ${databases.join(', ')}`);
if (skipped.length > 0) console.log(`# databases skipped: ${skipped.join('; ')}`);
const required = (process.env.OTP_TEST_REQUIRE ?? '').split(',').filter(Boolean);
const missing = required.filter((d) => !databases.includes(d));
if (missing.length > 0) {
  console.error(`# required databases missing: ${missing.join(', ')} (OTP_TEST_REQUIRE)`);
  process.exit(1);
}

const args = process.argv.slice(2);
const files = findTests(args.length > 0 ? args : ['test']).map((f) => relative(process.cwd(), f));
if (files.length === 0) { console.error('no test files found'); process.exit(1); }
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: { ...process.env, OTP_TEST_DATABASES: databases.join(','), OTP_TEST_MYSQL_URL: MYSQL_URL, OTP_TEST_PG_URL: PG_URL },
});
child.on('exit', (code, signal) => {
  if (skipped.length > 0) console.log(`# databases skipped: ${skipped.join('; ')}`);
  // Tests collect the logs they provoke (connection errors of the outage test, Console codes, warnings).
  console.log('# expected output: test results and these # lines only; any other line above is a real log to look at');
  process.exit(code ?? (signal ? 1 : 0));
});
