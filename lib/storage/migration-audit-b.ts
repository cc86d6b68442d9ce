/**
 * 0007 (issue 23.4): the webhook outbox gets a lifecycle. `phone_key` (a keyed digest of the
 * number, lib/core/outbox-subject.ts) lets `forget` find a number's events; the `updated_at`
 * index lets `purge` walk ended events oldest first; the `phone_key` index serves `forget`.
 */
import type { Knex } from 'knex';

export interface AuditBMigration {
  readonly name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** `t`: the kit's table names (only the outbox is touched). */
export function auditBMigration(t: { readonly webhooks: string }): AuditBMigration {
  return {
    name: '0007_otp_audit_b',
    async up(knex) {
      await knex.schema.alterTable(t.webhooks, (table) => {
        table.string('phone_key', 32).nullable();
        table.index(['phone_key'], `${t.webhooks}_phone_key_idx`);
        table.index(['updated_at'], `${t.webhooks}_updated_idx`);
      });
    },
    async down(knex) {
      await knex.schema.alterTable(t.webhooks, (table) => {
        table.dropIndex(['updated_at'], `${t.webhooks}_updated_idx`);
        table.dropIndex(['phone_key'], `${t.webhooks}_phone_key_idx`);
        table.dropColumn('phone_key');
      });
    },
  };
}
