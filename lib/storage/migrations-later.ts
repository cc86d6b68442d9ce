/**
 * Migrations 0009 and later (the fraud guard's holds, escalation workflows), apart from
 * lib/storage/migrations.ts so each file stays small. Listed in order there.
 */
import type { AuditBMigration } from './migration-audit-b.js';

/** The same shape as every kit migration (lib/storage/migration-audit-b.ts). */
export type LaterMigration = AuditBMigration;

/**
 * 0009: the breaker's holds of number ranges (the fraud guard): when each began, until when it
 * runs and how often it was renewed (each renewal doubles it, up to a cap).
 */
export function fraudGuardMigration(t: { readonly holds: string }): LaterMigration {
  return {
    name: '0009_otp_fraud_guard',
    async up(knex) {
      await knex.schema.createTable(t.holds, (table) => {
        /** The number range: the number without its last digits (`+4915177`). */
        table.string('target', 32).primary();
        table.string('reason', 40).notNullable();
        /** Consecutive holds so far (1 = the first); each renewal doubles the hold. */
        table.integer('level').notNullable();
        table.bigInteger('held_since').notNullable();
        table.bigInteger('held_until').notNullable();
        table.bigInteger('updated_at').notNullable();
        table.index(['held_until'], `${t.holds}_until_idx`);
      });
    },
    async down(knex) {
      await knex.schema.dropTableIfExists(t.holds);
    },
  };
}

/**
 * 0010: escalation workflows (issue 26, lib/core/workflow.ts). `workflow` is the plan
 * (`sms:60,call`; null: no workflow), `workflow_step` the index of the current step,
 * `step_due_at` when the retry poller starts the next step (null: none pending; indexed, the
 * poller's claim walks it) and `steps` the step history, a JSON array of
 * `{ step, channel, at, outcome: started|sent|undelivered|skipped, provider?, ref?, codeOwner?, reason? }`
 * (the `started` entry's delivery is in the row's provider columns until the next step begins).
 */
export function workflowMigration(t: { readonly requests: string }): LaterMigration {
  return {
    name: '0010_otp_workflow',
    async up(knex) {
      await knex.schema.alterTable(t.requests, (table) => {
        table.string('workflow', 120).nullable();
        table.integer('workflow_step').notNullable().defaultTo(0);
        table.bigInteger('step_due_at').nullable();
        table.text('steps').nullable();
        table.index(['step_due_at'], `${t.requests}_step_due_idx`);
      });
    },
    async down(knex) {
      await knex.schema.alterTable(t.requests, (table) => {
        table.dropIndex(['step_due_at'], `${t.requests}_step_due_idx`);
        table.dropColumn('steps');
        table.dropColumn('step_due_at');
        table.dropColumn('workflow_step');
        table.dropColumn('workflow');
      });
    },
  };
}
