/**
 * Issue 23.8: the CLI never prints a database credential, whatever its form: userinfo (with an
 * unencoded `@` in the password), query parameters the drivers honour (`?password=`, `?user=`,
 * `?sslkey=` …), in every command and in the error for an unknown scheme.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import { EXIT, redactedUrl, type CliIo } from '../../lib/cli/io.js';
import { runCli } from '../../lib/cli/run.js';
import { forEachDatabase } from '../helpers/db.js';

const SECRET = 'cli-test-secret-0123456789abcdefghijkl';

async function cli(argv: readonly string[], url: string): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const io: CliIo = { env: { NODE_ENV: 'test', OTP_SECRET: SECRET, DATABASE_URL: url }, out: (l) => lines.push(l), err: (l) => lines.push(l) };
  const code = await runCli(argv, io);
  return { code, text: lines.join('\n') };
}

it('redactedUrl removes credentials in every form', () => {
  const cases: Array<[string, string]> = [
    ['postgres://app:hunter2@db:5432/otp', 'postgres://***@db:5432/otp'],
    ['postgres://app:hun@ter2@db:5432/otp', 'postgres://***@db:5432/otp'],
    ['postgres://app:p@ss/w@rd@db/otp', 'postgres://***@db/otp'],
    ['postgres://app@db/otp?password=hunter2', 'postgres://***@db/otp?password=***'],
    ['postgres://db/otp?sslmode=require&password=hunter2&user=app', 'postgres://db/otp?sslmode=require&password=***&user=***'],
    ['postgres://db/otp?PassWord=hunter2', 'postgres://db/otp?PassWord=***'],
    ['postgres://db/otp?pass%77ord=hunter2', 'postgres://db/otp?pass%77ord=***'],
    ['mysql://db/otp?pwd=hunter2;pass=x', 'mysql://db/otp?pwd=***;pass=***'],
    ['mysql://db/otp?sslkey=/keys/app.key&sslcert=/keys/app.crt&charset=utf8mb4', 'mysql://db/otp?sslkey=***&sslcert=***&charset=utf8mb4'],
    ['postgres://db/otp?options=-c%20password%3Dhunter2', 'postgres://db/otp?options=***'],
    ['postgres://db/otp#hunter2', 'postgres://db/otp'],
    ['oracle://admin:hunter2@db:1521/x', 'oracle://***@db:1521/x'],
    ['postgres:app:hunter2@db/otp', 'postgres:***@db/otp'],
    ['sqlite:./otp.sqlite', 'sqlite:./otp.sqlite'],
    ['sqlite::memory:', 'sqlite::memory:'],
    ['postgres://db:5432/otp?sslmode=verify-full&connect_timeout=5', 'postgres://db:5432/otp?sslmode=verify-full&connect_timeout=5'],
  ];
  for (const [url, shown] of cases) {
    assert.equal(redactedUrl(url), shown, url);
    for (const secret of ['hunter2', 'ter2', 'w@rd', '/keys/app.key']) assert.ok(!redactedUrl(url).includes(secret), `${url} leaks ${secret}`);
  }
});

it('the error for an unknown scheme shows no credential in any form', async () => {
  for (const url of ['oracle://admin:hun@ter2@db:1521/x', 'oracle://db:1521/x?password=hunter2', 'oracle://db:1521/x?user=admin&pwd=hunter2']) {
    const ran = await cli(['status'], url);
    assert.equal(ran.code, EXIT.failed);
    assert.match(ran.text, /is not understood/);
    for (const secret of ['hunter2', 'ter2', 'admin']) assert.ok(!ran.text.includes(secret), `${url}: ${ran.text}`);
  }
});

forEachDatabase('cli never prints credentials', (db, kind) => {
  const users: string[] = [];
  async function dropUsers(): Promise<void> {
    for (const user of users.splice(0)) await db().knex.raw(kind === 'mysql' ? `DROP USER IF EXISTS '${user}'@'%'` : `DROP OWNED BY ${user}; DROP ROLE IF EXISTS ${user}`);
  }

  /** A login with a password, so the URL's credentials are real ones the driver uses. */
  async function login(password: string): Promise<string> {
    const user = `otpcli_${randomBytes(4).toString('hex')}`;
    users.push(user);
    const database = new URL(db().url).pathname.slice(1);
    if (kind === 'mysql') {
      await db().knex.raw(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
      await db().knex.raw(`GRANT ALL PRIVILEGES ON ${database}.* TO '${user}'@'%'`);
    } else {
      await db().knex.raw(`CREATE ROLE ${user} LOGIN SUPERUSER PASSWORD '${password}'`);
    }
    return user;
  }

  it('every command, lines and JSON: a password in the query or with an unencoded @', { skip: kind === 'sqlite' ? 'SQLite URLs carry no credentials' : false }, async () => {
    const base = new URL(db().url);
    const inQuery = 'QueryPw9x';
    const withAt = 'p@ss9Word';
    const userA = await login(inQuery);
    const userB = await login(withAt);
    try {
      await everyCommand(base, inQuery, withAt, userA, userB);
    } finally {
      await dropUsers();
    }
  });

  async function everyCommand(base: URL, inQuery: string, withAt: string, userA: string, userB: string): Promise<void> {
    const urls = [
      `${base.protocol}//${userA}@${base.host}${base.pathname}?password=${inQuery}`,
      `${base.protocol}//${userB}:${withAt}@${base.host}${base.pathname}`,
    ];
    const commands = [['migrate'], ['migrate', '--json'], ['status'], ['status', '--json'], ['routing', 'get'], ['routing', 'get', '--json'], ['purge'], ['purge', '--json']];
    for (const url of urls) {
      for (const argv of commands) {
        const ran = await cli(argv, url);
        assert.equal(ran.code, EXIT.ok, `${argv.join(' ')}: ${ran.text}`);
        for (const secret of [inQuery, withAt, 'ss9Word', userA, userB]) assert.ok(!ran.text.includes(secret), `${argv.join(' ')} printed ${secret}: ${ran.text}`);
      }
      const status = await cli(['status', '--json'], url);
      assert.match((JSON.parse(status.text) as { database: string }).database, new RegExp(`^${base.protocol}//(\\*\\*\\*@)?${base.host.replace(/\./g, '\\.')}${base.pathname}`));
    }
  }
});
