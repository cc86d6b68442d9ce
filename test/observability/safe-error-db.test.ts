/**
 * Audit item 19.3: a failed statement never reaches the log with its SQL or its bound values.
 * Knex prefixes a failed query's message with the SQL with the values filled in (the number, the
 * client IP, the request id, the digest, the lease token …); the kit logs a redacted summary
 * instead. Against real databases: an INSERT that fails on an oversized value (MariaDB and
 * PostgreSQL; SQLite does not enforce lengths), statements on a missing table (all three), and a
 * 2 s database outage through a loopback TCP proxy that is closed and reopened.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { it } from 'node:test';
import knexFactory, { type Knex } from 'knex';
import request from 'supertest';
import { createExampleApp } from '../../examples/app.js';
import { forEachDatabase, type TestDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

const PHONE = '+359871234567';
const json = { 'Content-Type': 'application/json' };
/** The unmasked part of the number (logs show it masked: +35987*****67). */
const UNMASKED = '871234567';

function assertClean(logs: readonly string[], values: readonly string[]): void {
  const text = logs.join('\n');
  for (const value of values) assert.ok(!text.includes(value), `a log line holds ${value}: ${text}`);
  assert.doesNotMatch(text, /values\s*\(/i, 'no SQL text with values');
  assert.doesNotMatch(text, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i, 'no request id or lease token');
  assert.doesNotMatch(text, /[0-9a-f]{32,}/i, 'no digest');
}

/** A loopback TCP proxy in front of a database: `down()` cuts every connection and refuses new ones. */
interface DbProxy {
  readonly port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

async function tcpProxy(targetPort: number): Promise<DbProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const down = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s !== undefined) await new Promise((resolve) => s.close(resolve));
  };
  await listen();
  return { get port() { return port; }, down, up: listen, close: down };
}

/**
 * Knex through the proxy. Knex logs every lost or refused connection of the outage to the console
 * ("Connection Error: …", "Acquire connection error: …" with a stack): those lines are expected
 * here, so they are collected in `knexLog` (and checked) instead of printed.
 */
function throughProxy(db: TestDatabase, port: number, knexLog: string[]): Knex {
  const url = new URL(db.url);
  url.port = String(port);
  const collect = (message: unknown): void => {
    knexLog.push(message instanceof Error ? message.message : String(message));
  };
  return knexFactory({
    client: db.kind === 'mysql' ? 'mysql2' : 'pg',
    connection: url.toString(),
    pool: { min: 0, max: 4 },
    acquireConnectionTimeout: 3_000,
    log: { warn: collect, error: collect, deprecate: collect, debug() {} },
  });
}

forEachDatabase('redacted database errors in the log (#19.3)', (db, kind) => {
  it('an INSERT failing on a value too long for its column logs no number, no IP and no bound value', { skip: kind === 'sqlite' ? 'SQLite does not enforce string lengths' : false }, async () => {
    const kit = await createTestKit(db());
    // The kit cuts client addresses to the column (audit 19.2); a narrower column (an operator's
    // schema change) makes the INSERT fail all the same.
    await db().knex.schema.alterTable('otp_requests', (table) => {
      table.string('client_ip', 8).nullable().alter();
    });
    const app = createExampleApp(kit.otp, { TRUST_PROXY: 'true' });
    const ip = '198.51.100.123';
    const res = await request(app).post('/otp/sms').set(json).set('X-Forwarded-For', ip).send({ phone: PHONE, purpose: 'delete-account' });
    assert.equal(res.status, 500);
    assert.equal(res.body.error.code, 'INTERNAL_ERROR');
    assert.ok(!JSON.stringify(res.body).includes(ip));
    const errors = kit.logs.filter((line) => line.startsWith('error'));
    assert.ok(errors.length >= 1, 'the failure is logged');
    assertClean(kit.logs, [UNMASKED, ip]);
    // What stays: the driver's code and SQLSTATE and the statement's name.
    const text = errors.join('\n');
    assert.match(text, kind === 'mysql' ? /"code":"ER_DATA_TOO_LONG".*"errno":1406.*"sqlState":"22001"/ : /"code":"22001".*"sqlState":"22001"/);
    assert.match(text, /"statement":"insert otp_requests"/);
    await kit.otp.close();
    await db().knex.schema.alterTable('otp_requests', (table) => {
      table.string('client_ip', 64).nullable().alter();
    });
  });

  it('statements on a missing table log the driver code and the statement name, never the SQL with its values', async () => {
    const kit = await createTestKit(db());
    const app = createExampleApp(kit.otp, {});
    await db().knex.schema.renameTable('otp_requests', 'otp_requests_away');
    try {
      const res = await request(app).post('/otp/sms').set(json).send({ phone: PHONE, purpose: 'delete-account' });
      assert.equal(res.status, 500);
      assert.equal(res.body.error.code, 'INTERNAL_ERROR');
      const verify = await request(app).post('/otp/verify').set(json).send({ phone: PHONE, code: '123456' });
      assert.equal(verify.status, 500);
      assert.equal(verify.body.error.code, 'INTERNAL_ERROR');
    } finally {
      await db().knex.schema.renameTable('otp_requests_away', 'otp_requests');
    }
    assertClean(kit.logs, [UNMASKED, '123456']);
    const text = kit.logs.filter((line) => line.startsWith('error')).join('\n');
    assert.match(text, { sqlite: /"code":"SQLITE_ERROR"/, mysql: /"code":"ER_NO_SUCH_TABLE".*"errno":1146.*"sqlState":"42S02"/, postgres: /"code":"42P01".*"sqlState":"42P01"/ }[kind]);
    assert.match(text, /"statement":"(insert|update|select) otp_requests"/);
    await kit.otp.close();
  });

  it('a 2 s database outage: requests answer 500 INTERNAL_ERROR, nothing crashes, the log holds no bound value, and the kit recovers', { skip: kind === 'sqlite' ? 'SQLite is a file, not a connection' : false, timeout: 60_000 }, async () => {
    const proxy = await tcpProxy(kind === 'mysql' ? 3306 : 5432);
    const knexLog: string[] = [];
    const knex = throughProxy(db(), proxy.port, knexLog);
    try {
      const kit = await createTestKit({ ...db(), knex });
      const app = createExampleApp(kit.otp, {});
      await request(app).post('/otp/sms').set(json).send({ phone: PHONE }).expect(202);

      await proxy.down();
      const during = await Promise.all(
        ['+359871234568', '+359871234569', '+359871234570'].map((phone) => request(app).post('/otp/sms').set(json).send({ phone })),
      );
      const verify = await request(app).post('/otp/verify').set(json).send({ phone: PHONE, code: kit.lastCode() });
      for (const res of [...during, verify]) {
        assert.ok(res.status === 500 || res.status === 503, `status ${res.status}`);
        assert.match(res.body.error.code, /^(INTERNAL_ERROR|PROVIDER_UNAVAILABLE)$/);
      }
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await proxy.up();

      // Dead pooled connections may fail once more; within a few tries the kit answers again.
      let status = 0;
      for (let attempt = 0; attempt < 10 && status !== 202; attempt += 1) {
        status = (await request(app).post('/otp/sms').set(json).send({ phone: '+359871234571' })).status;
        if (status !== 202) await new Promise((resolve) => setTimeout(resolve, 300));
      }
      assert.equal(status, 202, 'the kit recovers after the outage');
      assert.ok(kit.logs.some((line) => line.startsWith('error')), 'the outage is logged');
      assertClean(kit.logs, [UNMASKED, '871234568', '871234569', '871234570', '871234571']);
      // What Knex said during the outage: lost and refused connections, nothing else.
      const unexpected = knexLog.filter((line) => !/^(Connection Error|Acquire connection error): .*(Connection lost|closed the connection|ended unexpectedly|ECONNREFUSED|ECONNRESET|terminated|timeout)/is.test(line));
      assert.deepEqual(unexpected, [], 'Knex logged only connection errors');
      await kit.otp.close();
    } finally {
      await knex.destroy();
      await proxy.close();
    }
  });
});
