/**
 * Issue 23.6: a message's delivery outcome is final. The first recorded outcome (delivered or
 * undelivered) stands; later reports, alternating or concurrent, from one process or many, change
 * nothing, write no webhook and emit no event.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import express from 'express';
import request from 'supertest';
import { otpCallbackRouter, type Otp, type WebhookBody } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';
import { newWebhookSecret } from '../helpers/webhook-receiver.js';

const MADA_TOKEN = 'mada-callback-token-0123456789abcdef';

forEachDatabase('delivery reports are final', (db) => {
  const apps: express.Express[] = [];
  const otps: Otp[] = [];
  const reports: string[] = [];

  before(async () => {
    // Two instances on one database: reports reach either.
    for (let i = 0; i < 2; i += 1) {
      const kit = await createTestKit(db(), {
        clock: Date.now,
        providers: 'Mada',
        customProviders: [recordingProvider('Mada')],
        webhooks: { url: 'http://127.0.0.1:9/unused', secret: newWebhookSecret() },
      });
      kit.otp.events.on('delivery-report', (e) => reports.push(`${e.requestId}:${e.outcome}`));
      const app = express();
      app.use('/otp/callbacks', otpCallbackRouter(kit.otp, { madaToken: MADA_TOKEN }));
      apps.push(app);
      otps.push(kit.otp);
    }
  });

  async function sent(phone: string): Promise<{ requestId: string; ref: string }> {
    const s = await (otps[0] as Otp).sendSms(phone);
    const row: Record<string, unknown> | undefined = await db().knex('otp_requests').where({ request_id: s.requestId }).first();
    return { requestId: s.requestId, ref: String(row?.provider_ref) };
  }

  const report = (i: number, ref: string, status: string): request.Test =>
    request(apps[i % apps.length] as express.Express).post('/otp/callbacks/mada').set('authorization', `Bearer ${MADA_TOKEN}`).send({ messageId: ref, status });

  const reportOf = async (requestId: string): Promise<string> => {
    const row: Record<string, unknown> | undefined = await db().knex('otp_requests').where({ request_id: requestId }).first();
    return String(row?.delivery_report);
  };

  const eventsFor = async (requestId: string): Promise<string[]> =>
    (await db().knex('otp_webhooks').where({ request_id: requestId }).orderBy('id')).map((r: { body: string }) => (JSON.parse(r.body) as WebhookBody).type).filter((t) => t !== 'otp.sent');

  it('40 alternating reports, one after another: one state change, one webhook, one event', async () => {
    const { requestId, ref } = await sent('+359881239101');
    for (let i = 0; i < 40; i += 1) {
      const res = await report(i, ref, i % 2 === 0 ? 'UNDELIV' : 'DELIVRD');
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    assert.equal(await reportOf(requestId), 'undelivered', 'the first outcome stands');
    assert.deepEqual(await eventsFor(requestId), ['otp.undelivered']);
    assert.deepEqual(reports.filter((r) => r.startsWith(requestId)), [`${requestId}:undelivered`]);
  });

  it('40 alternating reports at once, across two instances: exactly one outcome, and it stands', async () => {
    const { requestId, ref } = await sent('+359881239102');
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => report(i, ref, i % 2 === 0 ? 'DELIVRD' : 'UNDELIV')));
    for (const res of answers) assert.equal(res.status, 200, JSON.stringify(res.body));
    const events = await eventsFor(requestId);
    assert.equal(events.length, 1, `one webhook (got ${events.join(', ')})`);
    const row = { delivery_report: await reportOf(requestId) };
    assert.equal(`otp.${row.delivery_report}`, events[0], 'the row says what the webhook said');
    assert.deepEqual(reports.filter((r) => r.startsWith(requestId)), [`${requestId}:${row.delivery_report}`]);
    // Later reports still change nothing.
    await report(0, ref, row.delivery_report === 'delivered' ? 'UNDELIV' : 'DELIVRD');
    assert.equal(await reportOf(requestId), row.delivery_report);
    assert.equal((await eventsFor(requestId)).length, 1);
  });
});
