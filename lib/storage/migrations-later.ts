/**
 * Migrations 0009 and later (the fraud guard's holds, escalation workflows, the rollups' step), apart from
 * lib/storage/migrations.ts so each file stays small. Listed in order there.
 */
import { dialectOf } from './db.js';
import { ROLLUP_COUNTERS, ROLLUP_KEY, ROLLUP_KEY_0008 } from './insights-migration.js';
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

/**
 * 0011: conversion per workflow step in the insight rollups (issue 26). `otp_insights` gets a `step`
 * key column (the escalation workflow step a request ended at, 1 = the first send; refusals and
 * requests without a workflow are 1), part of the primary key, last (ROLLUP_KEY's order). Existing
 * rows are kept, as step 1. MariaDB changes the key in one ALTER (drop and add the primary key
 * together); PostgreSQL drops and adds the constraint (one transaction: Knex runs each migration in
 * one); SQLite rebuilds the table (Knex's alterTable does, rows copied). `down` folds the rows of
 * later steps into step 1 before dropping the column, so no count is lost.
 */
export function insightsStepMigration(t: { readonly insights: string }): LaterMigration {
  const key = (cols: readonly string[]): { sql: string; names: string[] } => ({ sql: cols.map(() => '??').join(', '), names: [...cols] });
  return {
    name: '0011_otp_insights_step',
    async up(knex) {
      if (dialectOf(knex) === 'mysql') {
        const k = key(ROLLUP_KEY);
        await knex.raw(`ALTER TABLE ?? ADD COLUMN ?? INT NOT NULL DEFAULT 1, DROP PRIMARY KEY, ADD PRIMARY KEY (${k.sql})`, [t.insights, 'step', ...k.names]);
        return;
      }
      await knex.schema.alterTable(t.insights, (table) => {
        table.integer('step').notNullable().defaultTo(1);
      });
      await knex.schema.alterTable(t.insights, (table) => {
        table.dropPrimary();
        table.primary([...ROLLUP_KEY]);
      });
    },
    async down(knex) {
      const later = (await knex(t.insights).where('step', '>', 1).select()) as Array<Record<string, unknown>>;
      for (const row of later) {
        const at = Object.fromEntries(ROLLUP_KEY_0008.map((c) => [c, row[c]]));
        const add = Object.fromEntries(ROLLUP_COUNTERS.map((c) => [c, knex.raw('?? + ?', [c, Number(row[c] ?? 0)])]));
        const folded = await knex(t.insights).where({ ...at, step: 1 }).update(add);
        if (folded === 0) await knex(t.insights).where({ ...at, step: row.step }).update({ step: 1 });
        else await knex(t.insights).where({ ...at, step: row.step }).del();
      }
      if (dialectOf(knex) === 'mysql') {
        const k = key(ROLLUP_KEY_0008);
        await knex.raw(`ALTER TABLE ?? DROP PRIMARY KEY, ADD PRIMARY KEY (${k.sql}), DROP COLUMN ??`, [t.insights, ...k.names, 'step']);
        return;
      }
      await knex.schema.alterTable(t.insights, (table) => {
        table.dropPrimary();
        table.primary([...ROLLUP_KEY_0008]);
      });
      await knex.schema.alterTable(t.insights, (table) => {
        table.dropColumn('step');
      });
    },
  };
}
