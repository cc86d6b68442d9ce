/**
 * The kit's schema as Knex migrations in code (no files to locate at run time), usable from
 * `otp.migrate()` and from the app's own Knex CLI through `otpMigrationSource()` (see knexfile.ts).
 * Timestamps are epoch milliseconds (BIGINT) taken from the kit's clock: identical on all three
 * databases and testable with an injected clock.
 */
import type { Knex } from 'knex';
import { dialectOf } from './db.js';
import { auditBMigration } from './migration-audit-b.js';
import { fraudGuardMigration, insightsStepMigration, workflowMigration } from './migrations-later.js';
import { insightsMigration } from './insights-migration.js';
import { endIndexMigration } from './migration-end-index.js';
import { counterSlotsMigration } from './migration-counter-slots.js';
import { lockHintsMigration } from './migration-lock-hints.js';
import { madeRecordsMigration } from './migration-made-records.js';

export interface OtpTableNames {
  /** Key/value settings table; it may be the app's own table (it is then left as it is). @default 'otp_settings' */
  readonly settings: string;
  readonly settingsKeyColumn: string;
  readonly settingsValueColumn: string;
  /** One row per send: the OTP request, its delivery (retry) state and its verification state. @default 'otp_requests' */
  readonly requests: string;
  /** Window counters of the abuse limits (key, points, expire, and three slots for per-number rows). @default 'otp_limits' */
  readonly limits: string;
  /** Consecutive wrong codes per number (the NIST failure budget). @default 'otp_failures' */
  readonly failures: string;
  /** The webhook outbox: one row per event to deliver (lib/storage/outbox-queries.ts). @default 'otp_webhooks' */
  readonly webhooks: string;
  /** Number ranges held by the pumping breaker, with their renewals (lib/storage/hold-queries.ts). @default 'otp_holds' */
  readonly holds: string;
  /** Insight rollups: counters per hour/day, country, channel, provider and purpose; no personal data. @default 'otp_insights' */
  readonly insights: string;
}

export const DEFAULT_TABLES: OtpTableNames = {
  settings: 'otp_settings',
  settingsKeyColumn: 'key',
  settingsValueColumn: 'value',
  requests: 'otp_requests',
  limits: 'otp_limits',
  failures: 'otp_failures',
  webhooks: 'otp_webhooks',
  holds: 'otp_holds',
  insights: 'otp_insights',
};

/** Knex's bookkeeping table for the kit's migrations, apart from the app's own. */
export const OTP_MIGRATIONS_TABLE = 'otp_knex_migrations';

interface OtpMigration {
  readonly name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

function migrations(t: OtpTableNames): OtpMigration[] {
  return [
    {
      name: '0001_otp_tables',
      async up(knex) {
        if (!(await knex.schema.hasTable(t.settings))) {
          await knex.schema.createTable(t.settings, (table) => {
            table.string(t.settingsKeyColumn, 191).primary();
            table.text(t.settingsValueColumn).notNullable();
          });
        }
        await knex.schema.createTable(t.requests, (table) => {
          table.increments('id').primary();
          table.string('request_id', 36).notNullable().unique();
          table.string('phone', 16).notNullable();
          table.string('channel', 8).notNullable();
          table.string('purpose', 64).notNullable();
          /** Providers to try, in order, fixed at send time (comma-separated). */
          table.string('chain', 255).notNullable();
          /** The provider that delivered; verification goes to it (sticky). */
          table.string('provider', 32).nullable();
          table.string('provider_ref', 128).nullable();
          /** 'kit' (digest below decides) or 'provider' (the provider checks the code). */
          table.string('code_owner', 8).notNullable().defaultTo('kit');
          /** HMAC-SHA256 of requestId, phone and code. Never the code. */
          table.string('code_digest', 64).notNullable();
          /** AES-GCM sealed code, only while a delivery is pending (retries send the same code). */
          table.string('code_cipher', 160).nullable();
          table.string('message_template', 320).notNullable();
          /** Delivery: sending | queued | sent | failed | unsendable | expired. */
          table.string('status', 16).notNullable();
          table.integer('send_attempts').notNullable().defaultTo(0);
          /** When the poller may take the row (null: nothing left to do). */
          table.bigInteger('next_attempt_at').nullable();
          table.string('lease_owner', 64).nullable();
          /** Fencing token: a result is written only by the holder of the current lease. */
          table.string('lease_token', 36).nullable();
          table.bigInteger('lease_expires_at').nullable();
          table.string('last_error', 500).nullable();
          table.text('provider_request').nullable();
          table.text('provider_response').nullable();
          /** Verification: pending | verified | superseded. */
          table.string('verify_status', 16).notNullable().defaultTo('pending');
          /** Wrong codes (and provider-side checks) counted against maxAttempts. */
          table.integer('attempts').notNullable().defaultTo(0);
          table.bigInteger('verified_at').nullable();
          /** Set when the verification token was spent (single-use tokens). */
          table.bigInteger('token_used_at').nullable();
          table.string('client_ip', 64).nullable();
          table.bigInteger('expires_at').notNullable();
          table.bigInteger('created_at').notNullable();
          table.bigInteger('updated_at').notNullable();
          table.index(['phone', 'id'], `${t.requests}_phone_idx`);
          table.index(['next_attempt_at'], `${t.requests}_due_idx`);
        });
      },
      async down(knex) {
        await knex.schema.dropTableIfExists(t.requests);
      },
    },
    {
      name: '0002_otp_limits',
      async up(knex) {
        // Window counters: one row per limit and key (lib/limits/store.ts).
        await knex.schema.createTable(t.limits, (table) => {
          table.string('key', 191).primary();
          table.integer('points').notNullable().defaultTo(0);
          /** Epoch ms when the window (or block) ends; null never ends. */
          table.bigInteger('expire').nullable();
          table.index(['expire'], `${t.limits}_expire_idx`);
        });
        await knex.schema.createTable(t.failures, (table) => {
          table.string('phone', 16).primary();
          /** Wrong codes since the last success or lock, plus guesses in flight. */
          table.integer('failures').notNullable().defaultTo(0);
          table.bigInteger('locked_until').nullable();
          table.bigInteger('updated_at').notNullable();
        });
      },
      async down(knex) {
        await knex.schema.dropTableIfExists(t.failures);
        await knex.schema.dropTableIfExists(t.limits);
      },
    },
    {
      name: '0003_otp_lifecycle',
      async up(knex) {
        // Request ids as 64-bit integers. SQLite's INTEGER PRIMARY KEY already is; MariaDB/MySQL had
        // `int unsigned` and PostgreSQL `serial` (an integer column and sequence). On MariaDB this
        // rebuilds the table (ALGORITHM=COPY): on a large table run it in a quiet moment.
        const dialect = dialectOf(knex);
        if (dialect === 'mysql') await knex.raw('ALTER TABLE ?? MODIFY ?? BIGINT UNSIGNED NOT NULL AUTO_INCREMENT', [t.requests, 'id']);
        if (dialect === 'postgres') {
          await knex.raw('ALTER TABLE ?? ALTER COLUMN ?? TYPE BIGINT', [t.requests, 'id']);
          const result = await knex.raw<{ rows: Array<{ s: string | null }> }>('SELECT pg_get_serial_sequence(?, ?) AS s', [t.requests, 'id']);
          const sequence = result.rows[0]?.s;
          if (typeof sequence === 'string' && /^[A-Za-z0-9_."]+$/.test(sequence)) await knex.raw(`ALTER SEQUENCE ${sequence} AS BIGINT`);
        }
        // What the purge walks (lib/storage/purge-queries.ts), oldest first, in bounded batches.
        await knex.schema.alterTable(t.requests, (table) => {
          table.index(['expires_at'], `${t.requests}_expires_idx`);
        });
        await knex.schema.alterTable(t.failures, (table) => {
          table.index(['locked_until'], `${t.failures}_locked_idx`);
          table.index(['updated_at'], `${t.failures}_updated_idx`);
        });
      },
      async down(knex) {
        await knex.schema.alterTable(t.failures, (table) => {
          table.dropIndex(['updated_at'], `${t.failures}_updated_idx`);
          table.dropIndex(['locked_until'], `${t.failures}_locked_idx`);
        });
        await knex.schema.alterTable(t.requests, (table) => {
          table.dropIndex(['expires_at'], `${t.requests}_expires_idx`);
        });
      },
    },
    webhooksMigration(t),
    channelsMigration(t),
    auditBMigration(t),
    insightsMigration(t),
    fraudGuardMigration(t),
    workflowMigration(t),
    insightsStepMigration(t),
    endIndexMigration(t),
    counterSlotsMigration(t),
    lockHintsMigration(t),
    madeRecordsMigration(t),
  ];
}

/**
 * 0005: the locale of a send, so a retry hands providers that write their own text (Twilio
 * `Locale`, Sinch) the same locale as the first attempt. The channel column (8) already fits
 * `whatsapp`, and the chosen template is kept in `message_template`.
 */
function channelsMigration(t: OtpTableNames): OtpMigration {
  return {
    name: '0005_otp_channels',
    async up(knex) {
      await knex.schema.alterTable(t.requests, (table) => {
        table.string('locale', 35).nullable();
      });
    },
    async down(knex) {
      await knex.schema.alterTable(t.requests, (table) => {
        table.dropColumn('locale');
      });
    },
  };
}

/**
 * 0004: the webhook outbox, and the delivery report of a request (inbound provider callbacks).
 * Independent of 0003: it touches only its own table and two new request columns.
 */
function webhooksMigration(t: OtpTableNames): OtpMigration {
  return {
    name: '0004_otp_webhooks',
    async up(knex) {
      await knex.schema.createTable(t.webhooks, (table) => {
        table.increments('id').primary();
        /** The Standard Webhooks `webhook-id`: the same on every attempt (receivers dedupe on it). */
        table.string('webhook_id', 40).notNullable().unique();
        table.string('event_type', 40).notNullable();
        table.string('request_id', 36).nullable();
        /** The JSON body, fixed when the event is written (no code, token or full number). */
        table.text('body').notNullable();
        /** pending | delivered | failed. */
        table.string('status', 12).notNullable();
        table.integer('attempts').notNullable().defaultTo(0);
        table.bigInteger('next_attempt_at').nullable();
        table.string('lease_owner', 64).nullable();
        table.string('lease_token', 36).nullable();
        table.bigInteger('lease_expires_at').nullable();
        table.string('last_error', 500).nullable();
        table.bigInteger('delivered_at').nullable();
        table.bigInteger('created_at').notNullable();
        table.bigInteger('updated_at').notNullable();
        table.index(['next_attempt_at'], `${t.webhooks}_due_idx`);
      });
      await knex.schema.alterTable(t.requests, (table) => {
        /** delivered | undelivered, from the provider's delivery report (callback). */
        table.string('delivery_report', 12).nullable();
        table.bigInteger('delivery_reported_at').nullable();
        table.index(['provider_ref'], `${t.requests}_provider_ref_idx`);
      });
    },
    async down(knex) {
      await knex.schema.alterTable(t.requests, (table) => {
        table.dropIndex(['provider_ref'], `${t.requests}_provider_ref_idx`);
        table.dropColumn('delivery_reported_at');
        table.dropColumn('delivery_report');
      });
      await knex.schema.dropTableIfExists(t.webhooks);
    },
  };
}

/** A Knex MigrationSource for the kit's tables; pass it in your knexfile's `migrations.migrationSource`. */
export function otpMigrationSource(tables: Partial<OtpTableNames> = {}): Knex.MigrationSource<OtpMigration> {
  const t = { ...DEFAULT_TABLES, ...tables };
  const list = migrations(t);
  return {
    getMigrations: () => Promise.resolve(list),
    getMigrationName: (m) => m.name,
    getMigration: (m) => Promise.resolve({ up: (k: Knex) => m.up(k), down: (k: Knex) => m.down(k) }),
  };
}

/** Brings the kit's tables up to date (safe to call from several processes at once: Knex locks). */
export async function migrateOtpTables(knex: Knex, tables: Partial<OtpTableNames> = {}): Promise<void> {
  await knex.migrate.latest({ migrationSource: otpMigrationSource(tables), tableName: OTP_MIGRATIONS_TABLE});
}

/** The first of `names` that does not exist yet, or undefined (for `ready()`). */
export async function firstMissingTable(knex: Knex, names: readonly string[]): Promise<string | undefined> {
  for (const name of names) {
    if (!(await knex.schema.hasTable(name))) return name;
  }
  return undefined;
}
