/**
 * Issue 26 on every database: a send that starts an escalation workflow writes the workflow with
 * the request row's INSERT itself, so no process death can leave a request without its workflow;
 * concurrent sends still share their inserts (group commit).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseSteps } from '../../lib/core/workflow.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

// Valid Bulgarian mobile numbers (+359 87 2xx xxxx), one per index.
const phoneOf = (i: number): string => `+359872${String(1_000_000 + i).slice(1)}`;
const writesWorkflow = (sql: string): boolean => /\bupdate\b/i.test(sql) && /[`"]workflow[`"]\s*=/.test(sql);

forEachDatabase('workflow written by the insert', (db) => {
  it('the request row has its workflow in the statement that creates it; no later statement writes it; sends still share inserts', async () => {
    const kit = await createTestKit(db(), { workflow: 'sms:60,call' });
    const table = kit.otp.config.tables.requests;
    const statements: string[] = [];
    const onQuery = (q: { sql: string }): void => {
      statements.push(q.sql);
    };
    db().knex.on('query', onQuery);
    const n = 20;
    const phones = Array.from({ length: n }, (_, i) => phoneOf(i));
    try {
      await Promise.all(phones.map((p) => kit.otp.sendSms(p)));
    } finally {
      db().knex.off('query', onQuery);
    }
    const inserts = statements.filter((sql) => new RegExp(`^insert into [\`"]${table}[\`"]`, 'i').test(sql));
    assert.ok(inserts.length >= 1);
    for (const sql of inserts) assert.match(sql, /[`"]workflow[`"], [`"]step_due_at[`"], [`"]steps[`"]/, 'the insert writes the workflow columns');
    assert.deepEqual(statements.filter(writesWorkflow), [], 'no statement writes the workflow after the insert');
    if (db().kind !== 'mysql') assert.ok(inserts.length < n, `${inserts.length} inserts for ${n} sends: they must share statements`);

    const rows: Array<Record<string, unknown>> = await db().knex(table).whereIn('phone', phones).select('phone', 'workflow', 'workflow_step', 'step_due_at', 'steps', 'created_at');
    assert.equal(rows.length, n);
    for (const row of rows) {
      assert.deepEqual([row.workflow, Number(row.workflow_step), Number(row.step_due_at)], ['sms:60,call', 0, Number(row.created_at) + 60_000], String(row.phone));
      assert.deepEqual(parseSteps(String(row.steps)).map((s) => [s.step, s.channel, s.outcome]), [[0, 'sms', 'started']]);
    }
  });

  it('the row exists only with its workflow: read the moment the insert returns, before anything else runs', async () => {
    const kit = await createTestKit(db(), { workflow: 'sms:45,call' });
    const table = kit.otp.config.tables.requests;
    const seen: Array<Record<string, unknown> | undefined> = [];
    let reading: Promise<void> = Promise.resolve();
    // The first statement after the insert is where a process could have died before: read the row there.
    const onResponse = (_response: unknown, q: { sql: string }): void => {
      if (new RegExp(`^insert into [\`"]${table}[\`"]`, 'i').test(q.sql)) {
        reading = db().knex(table).where({ phone: phoneOf(99) }).first('workflow', 'step_due_at', 'steps').then((r: Record<string, unknown> | undefined) => {
          seen.push(r);
        });
      }
    };
    db().knex.on('query-response', onResponse);
    try {
      await kit.otp.sendSms(phoneOf(99));
      await reading;
    } finally {
      db().knex.off('query-response', onResponse);
    }
    assert.equal(seen.length, 1);
    const row = seen[0];
    assert.ok(row !== undefined && row.workflow === 'sms:45,call' && row.step_due_at !== null && parseSteps(String(row.steps)).length === 1, JSON.stringify(row));
  });
});
