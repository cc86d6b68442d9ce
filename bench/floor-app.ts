/**
 * The floor: a bare Express app doing the least honest work for the kit's job, to measure the kit
 * against. Send: validate the number (libphonenumber-js/max, as the kit), a 6-digit code from
 * `crypto.randomInt`, an HMAC of it, one INSERT, hand the code to an in-process sink. Verify: one
 * SELECT of the newest row, a constant-time compare, one conditional UPDATE that consumes it.
 * No limits, no retries, no provider routing, no tokens.
 *
 * Run as a child of bench/run.ts (DATABASE_URL, BENCH_SECRET); it answers the orchestrator's calls
 * over IPC (see bench/common.ts).
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import express, { type Express } from 'express';
import type { Knex } from 'knex';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import mysql from 'mysql2/promise';
import { appHandlers, createCodeBook, createStatementCounter, isMain, phoneFor, serveChild } from './common.js';

export const FLOOR_TABLE = 'floor_codes';
const TTL_MS = 300_000;
const MAX_ATTEMPTS = 5;

/** The floor's one table: the newest row per phone is the live code. */
export async function migrateFloor(knex: Knex): Promise<void> {
  await knex.schema.createTable(FLOOR_TABLE, (table) => {
    table.increments('id').primary();
    table.string('phone', 16).notNullable();
    table.string('digest', 64).notNullable();
    table.bigInteger('expires_at').notNullable();
    table.integer('attempts').notNullable().defaultTo(0);
    table.boolean('used').notNullable().defaultTo(false);
    table.index(['phone', 'id'], `${FLOOR_TABLE}_phone_idx`);
  });
}

export interface Floor {
  readonly app: Express;
  /** The send logic without HTTP, to prepare live codes for the verify phase. */
  send(phone: string): Promise<void>;
}

export function createFloor(pool: mysql.Pool, secret: string, deliver: (phone: string, code: string) => void): Floor {
  const key = Buffer.from(secret);
  const digest = (phone: string, code: string): Buffer => createHmac('sha256', key).update(`${phone}\n${code}`).digest();

  const e164 = (raw: unknown): string | undefined => {
    if (typeof raw !== 'string' || raw.length > 32) return undefined;
    const parsed = parsePhoneNumberFromString(raw);
    return parsed?.isValid() === true ? parsed.number : undefined;
  };

  async function send(phone: string): Promise<void> {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await pool.execute(`INSERT INTO ${FLOOR_TABLE} (phone, digest, expires_at) VALUES (?, ?, ?)`, [phone, digest(phone, code).toString('hex'), Date.now() + TTL_MS]);
    deliver(phone, code);
  }

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(express.json({ limit: '2kb' }));

  app.post('/otp/sms', (req, res, next) => {
    const phone = e164((req.body as { phone?: unknown } | undefined)?.phone);
    if (phone === undefined) {
      res.status(400).json({ error: 'phone' });
      return;
    }
    send(phone).then(() => res.status(202).json({ status: 'sent' }), next);
  });

  app.post('/otp/verify', (req, res, next) => {
    const body = req.body as { phone?: unknown; code?: unknown } | undefined;
    const phone = e164(body?.phone);
    const code = body?.code;
    if (phone === undefined || typeof code !== 'string' || !/^[0-9]{6}$/.test(code)) {
      res.status(400).json({ error: 'phone or code' });
      return;
    }
    void (async () => {
      const [rows] = await pool.execute(`SELECT id, digest, expires_at, attempts, used FROM ${FLOOR_TABLE} WHERE phone = ? ORDER BY id DESC LIMIT 1`, [phone]);
      const row = (rows as { id: number; digest: string; expires_at: number | string; attempts: number; used: number }[])[0];
      if (row === undefined || row.used !== 0 || Number(row.expires_at) <= Date.now() || row.attempts >= MAX_ATTEMPTS) {
        res.status(400).json({ error: 'not found' });
        return;
      }
      if (!timingSafeEqual(digest(phone, code), Buffer.from(row.digest, 'hex'))) {
        await pool.execute(`UPDATE ${FLOOR_TABLE} SET attempts = attempts + 1 WHERE id = ? AND used = 0 AND attempts < ?`, [row.id, MAX_ATTEMPTS]);
        res.status(400).json({ error: 'invalid' });
        return;
      }
      const [result] = await pool.execute(`UPDATE ${FLOOR_TABLE} SET used = 1 WHERE id = ? AND used = 0 AND attempts < ?`, [row.id, MAX_ATTEMPTS]);
      if ((result as { affectedRows: number }).affectedRows !== 1) {
        res.status(400).json({ error: 'not found' });
        return;
      }
      res.status(200).json({ ok: true });
    })().catch(next);
  });

  return { app, send };
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  const secret = process.env.BENCH_SECRET;
  if (url === undefined || secret === undefined) throw new Error('floor-app: DATABASE_URL and BENCH_SECRET are required');
  const counter = createStatementCounter();
  // The same pool size as the kit's default (knexFromUrl: max 10).
  const pool = mysql.createPool({ uri: url, connectionLimit: Number(process.env.BENCH_POOL_MAX ?? 10) });
  const book = createCodeBook();
  const floor = createFloor(pool, secret, (phone, code) => book.record(phone, code));
  const server = createServer(floor.app);
  await serveChild(server, appHandlers(book, counter, (i) => floor.send(phoneFor(i))), () => pool.end());
}

if (isMain(import.meta.url)) await main();
