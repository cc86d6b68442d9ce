/**
 * Rows for the poller benchmark and the EXPLAIN checks. One request goes through the kit's real
 * send path with a provider that fails with a retryable error, so the row is exactly what the kit
 * writes for a queued retry (whatever the schema is by then). It is then copied in bulk with fresh
 * request ids, numbers and codes (digest and sealed code made with the kit's own keys), so the
 * poller has real work: open the sealed code, deliver, record the outcome.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { digestCode, encryptCode, generateCode } from '../lib/core/code.js';
import { createOtp, ProviderError, silentLogger, type Otp, type OtpProvider } from '../lib/index.js';
import { internalsOf } from '../lib/service/internals.js';
import { phoneFor } from './common.js';

/** The provider name the seeded rows are routed to; poller processes register an accepting one. */
export const RETRY_PROVIDER = 'BenchRetry';

const failingProvider: OtpProvider = {
  name: RETRY_PROVIDER,
  channels: ['sms', 'call'],
  ownsCode: false,
  send() {
    return Promise.reject(new ProviderError({ provider: RETRY_PROVIDER, kind: 'network', retryable: true, message: 'bench: first attempt fails on purpose' }));
  },
};

export interface SeedOptions {
  readonly count: number;
  /** First index for phoneFor(), so batches do not share numbers. */
  readonly from: number;
  /** Due now (queued, next_attempt_at in the past), or already finished (sent, nothing due). */
  readonly due: boolean;
  /** Marks the batch (purpose column) so its outcome can be counted. */
  readonly purpose: string;
}

export interface Seeder {
  seed(options: SeedOptions): Promise<void>;
  close(): Promise<void>;
}

export function createSeeder(knex: Knex, secret: string): Seeder {
  const otp: Otp = createOtp({
    db: knex,
    secret,
    customProviders: [failingProvider],
    providers: [RETRY_PROVIDER],
    sms: { retry: true, maxRetries: 5, baseDelayMs: 10 },
    ttlSeconds: 600,
    // A setup tool, not the thing measured: the bench's volume is far over the default budgets.
    limits: false,
    logger: silentLogger,
  });
  const table = otp.config.tables.requests;
  const digestKey = internalsOf(otp).keys.digest[0] as Buffer;
  const cipherKey = internalsOf(otp).keys.cipher[0] as Buffer;
  let template: Record<string, unknown> | undefined;

  async function templateRow(): Promise<Record<string, unknown>> {
    if (template !== undefined) return template;
    const sent = await otp.sendSms(phoneFor(9_999_990), { purpose: 'bench-template' });
    if (sent.status !== 'queued') throw new Error(`seed: the template send ended as ${sent.status}, expected queued (is retry on?)`);
    const row = (await knex(table).where({ request_id: sent.requestId }).first()) as Record<string, unknown> | undefined;
    if (row === undefined) throw new Error('seed: the template row is missing');
    await knex(table).where({ request_id: sent.requestId }).delete();
    const { id: _id, ...rest } = row;
    template = rest;
    return rest;
  }

  return {
    async seed({ count, from, due, purpose }) {
      const base = await templateRow();
      const now = Date.now();
      const rows: Record<string, unknown>[] = [];
      for (let k = 0; k < count; k += 1) {
        const requestId = randomUUID();
        const phone = phoneFor(from + k);
        const code = generateCode(6);
        rows.push({
          ...base,
          request_id: requestId,
          phone,
          purpose,
          code_digest: digestCode(digestKey, requestId, phone, code),
          code_cipher: due ? encryptCode(cipherKey, requestId, code) : null,
          status: due ? 'queued' : 'sent',
          next_attempt_at: due ? now - 1_000 : null,
          expires_at: now + 600_000,
          created_at: now,
          updated_at: now,
        });
      }
      for (let k = 0; k < rows.length; k += 500) await knex(table).insert(rows.slice(k, k + 500));
    },
    close: () => otp.close(),
  };
}
