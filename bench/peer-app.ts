/**
 * The peer: better-auth's phone-number plugin (the OTP flow of a popular TypeScript auth library)
 * on Express and MariaDB, set up as its documentation shows and left on its defaults: codes from its
 * own generator, stored with their attempt count in its `verification` table, its in-memory rate
 * limiter (on in production; 10 a minute per IP on /phone-number paths, here one IP per request via
 * X-Forwarded-For). Delivery goes to the same in-process sink as the other apps, and numbers are
 * checked with libphonenumber-js/max through the plugin's `phoneNumberValidator`, as in the floor and
 * the kit.
 *
 * Send: POST /api/auth/phone-number/send-otp `{ phoneNumber }`. Verify: POST
 * /api/auth/phone-number/verify `{ phoneNumber, code }`, which in better-auth signs the user in:
 * it consumes the code, creates the user on first verification (`signUpOnVerification`) and a
 * session, and answers with the session token (the kit answers with a signed token, no user).
 *
 * Run as a child of bench/run.ts (DATABASE_URL, BENCH_SECRET); it answers the orchestrator's calls
 * over IPC (see bench/common.ts).
 */
import { createServer } from 'node:http';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import { toNodeHandler } from 'better-auth/node';
import { phoneNumber } from 'better-auth/plugins';
import express from 'express';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import mysql from 'mysql2/promise';
import { appHandlers, createCodeBook, createStatementCounter, isMain, phoneFor, serveChild } from './common.js';

/** better-auth's phone-number routes, under its default base path. */
export const PEER_PATHS = { send: '/api/auth/phone-number/send-otp', verify: '/api/auth/phone-number/verify' } as const;

function createPeer(pool: mysql.Pool, secret: string, deliver: (phone: string, code: string) => void) {
  const auth = betterAuth({
    database: pool,
    secret,
    baseURL: 'http://127.0.0.1',
    telemetry: { enabled: false },
    logger: { disabled: true },
    advanced: { ipAddress: { ipAddressHeaders: ['x-forwarded-for'] } },
    plugins: [
      phoneNumber({
        sendOTP: ({ phoneNumber: phone, code }) => {
          deliver(phone, code);
        },
        phoneNumberValidator: (raw) => parsePhoneNumberFromString(raw)?.isValid() === true,
        signUpOnVerification: { getTempEmail: (phone) => `${phone.slice(1)}@bench.invalid` },
      }),
    ],
  });
  const app = express();
  app.disable('x-powered-by');
  // better-auth reads the body itself: no express.json() before it (its Express guide).
  app.all('/api/auth/{*any}', toNodeHandler(auth));
  return { auth, app };
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  const secret = process.env.BENCH_SECRET;
  if (url === undefined || secret === undefined) throw new Error('peer-app: DATABASE_URL and BENCH_SECRET are required');
  const counter = createStatementCounter();
  // The same pool size as the kit's default (knexFromUrl: max 10).
  const pool = mysql.createPool({ uri: url, connectionLimit: Number(process.env.BENCH_POOL_MAX ?? 10) });
  const book = createCodeBook();
  const peer = createPeer(pool, secret, (phone, code) => book.record(phone, code));
  // Its own tables (user, session, account, verification), created once per database.
  const { runMigrations } = await getMigrations(peer.auth.options);
  await runMigrations();
  const server = createServer(peer.app);
  await serveChild(server, appHandlers(book, counter, (i) => peer.auth.api.sendPhoneNumberOTP({ body: { phoneNumber: phoneFor(i) } })), () => pool.end());
}

if (isMain(import.meta.url)) await main();
