/**
 * Inbound delivery reports on every database: a Sinch callback signed by the Sinch SDK's own
 * signer (independent of the kit's check) and a Mada report with the bearer token become
 * `delivered` / `undelivered` on the request row and an outbox event; unsigned, tampered, stale
 * or wrongly keyed callbacks are 401 and change nothing.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { generateAuthorizationHeader } from '@sinch/sdk-client';
import express from 'express';
import request from 'supertest';
import { otpCallbackRouter, type Otp, type WebhookBody } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';
import { recordingProvider } from '../helpers/providers.js';
import { newWebhookSecret } from '../helpers/webhook-receiver.js';

const KEY = 'b4c1d0f2-0000-4000-8000-00000000abcd';
const SECRET = Buffer.from('sinch application secret for tests').toString('base64');
const MADA_TOKEN = 'mada-callback-token-0123456789abcdef';
const PATH = '/otp/callbacks/sinch';

function signed(body: string, timestamp = new Date().toISOString(), secret = SECRET): Record<string, string> {
  const contentType = 'application/json; charset=utf-8';
  return { 'content-type': contentType, 'x-timestamp': timestamp, authorization: generateAuthorizationHeader('POST', body, contentType, `x-timestamp:${timestamp}`, PATH, KEY, secret) };
}

forEachDatabase('provider callbacks', (db) => {
  let otp: Otp;
  let app: express.Express;

  before(async () => {
    // Stand-ins named Sinch and Mada: the sends record those providers and their references.
    const sinch = recordingProvider('Sinch');
    const mada = recordingProvider('Mada');
    const kit = await createTestKit(db(), {
      clock: Date.now,
      providers: 'Sinch;Mada:+35988',
      customProviders: [sinch, mada],
      webhooks: { url: 'http://127.0.0.1:9/unused', secret: newWebhookSecret() },
    });
    otp = kit.otp;
    app = express();
    app.use('/otp/callbacks', otpCallbackRouter(otp, { sinch: { applicationKey: KEY, applicationSecret: SECRET }, madaToken: MADA_TOKEN }));
  });

  const requestRow = (ref: string): Promise<Record<string, unknown> | undefined> => db().knex('otp_requests').where({ provider_ref: ref }).first();
  const eventsFor = async (requestId: string): Promise<WebhookBody[]> =>
    (await db().knex('otp_webhooks').where({ request_id: requestId }).orderBy('id')).map((r: { body: string }) => JSON.parse(r.body) as WebhookBody).filter((b) => b.type !== 'otp.sent');

  it('a signed Sinch delivery report marks the request delivered and writes otp.delivered, once', async () => {
    const sent = await otp.sendSms('+359871239001');
    const body = JSON.stringify({ id: 'Sinch-1', event: 'VerificationSmsDeliveredEvent', method: 'sms', identity: { type: 'number', endpoint: '+359871239001' }, smsResult: 'Successful' });
    const res = await request(app).post(PATH).set(signed(body)).send(body);
    assert.equal(res.status, 200);
    const row = await requestRow('Sinch-1');
    assert.equal(row?.delivery_report, 'delivered');
    const again = await request(app).post(PATH).set(signed(body)).send(body);
    assert.equal(again.status, 200);
    const events = await eventsFor(sent.requestId);
    assert.deepEqual(events.map((e) => e.type), ['otp.delivered'], 'a repeated report writes no second event');
    assert.deepEqual([events[0]?.data.phone, events[0]?.data.provider, events[0]?.data.channel], ['+35987*****01', 'Sinch', 'sms']);
  });

  it('unsigned, tampered, stale and foreign-key Sinch callbacks are 401 and change nothing', async () => {
    await otp.sendSms('+359871239002');
    const body = JSON.stringify({ id: 'Sinch-2', event: 'VerificationSmsDeliveredEvent', method: 'sms', identity: { type: 'number', endpoint: '+359871239002' }, smsResult: 'Failed' });
    const refusals = [
      await request(app).post(PATH).set('content-type', 'application/json; charset=utf-8').send(body),
      await request(app).post(PATH).set(signed(body)).send(body.replace('Failed', 'Successful')),
      await request(app).post(PATH).set(signed(body, new Date(Date.now() - 10 * 60_000).toISOString())).send(body),
      await request(app).post(PATH).set(signed(body, undefined, Buffer.from('another secret').toString('base64'))).send(body),
      await request(app).post(PATH).set({ ...signed(body), authorization: `Basic ${Buffer.from(`${KEY}:${SECRET}`).toString('base64')}` }).send(body),
    ];
    for (const res of refusals) {
      assert.equal(res.status, 401);
      assert.equal((res.body as { error: { code: string } }).error.code, 'CALLBACK_UNAUTHORIZED');
    }
    assert.equal((await requestRow('Sinch-2'))?.delivery_report, null);
    const ok = await request(app).post(PATH).set(signed(body)).send(body);
    assert.equal(ok.status, 200);
    assert.equal((await requestRow('Sinch-2'))?.delivery_report, 'undelivered');
  });

  it('a Sinch request event for a verification the kit never started is denied (audit 23.7); other signed events are acknowledged', async () => {
    const body = JSON.stringify({ id: 'x', event: 'VerificationRequestEvent', method: 'sms', identity: { type: 'number', endpoint: '+359871239003' } });
    const res = await request(app).post(PATH).set(signed(body)).send(body);
    assert.deepEqual([res.status, res.body], [200, { action: 'deny' }]);
    const other = JSON.stringify({ id: 'y', event: 'VerificationResultEvent', method: 'sms', identity: { type: 'number', endpoint: '+359871239003' }, status: 'SUCCESSFUL' });
    const ack = await request(app).post(PATH).set(signed(other)).send(other);
    assert.deepEqual([ack.status, ack.body], [200, {}]);
  });

  it('a Mada report with the bearer token marks the request undelivered; without it, 401', async () => {
    const sent = await otp.sendSms('+359881239004');
    const row = await db().knex('otp_requests').where({ request_id: sent.requestId }).first('provider_ref', 'provider');
    const ref = (row as { provider_ref: string }).provider_ref;
    assert.equal((row as { provider: string }).provider, 'Mada');
    const report = { messageId: ref, status: 'UNDELIV' };
    assert.equal((await request(app).post('/otp/callbacks/mada').send(report)).status, 401);
    assert.equal((await request(app).post('/otp/callbacks/mada').set('authorization', 'Bearer wrong-token-wrong-token-wrong').send(report)).status, 401);
    assert.equal((await requestRow(ref))?.delivery_report, null);
    const ok = await request(app).post('/otp/callbacks/mada').set('authorization', `Bearer ${MADA_TOKEN}`).type('form').send(report);
    assert.equal(ok.status, 200);
    assert.equal((await requestRow(ref))?.delivery_report, 'undelivered');
    assert.deepEqual((await eventsFor(sent.requestId)).map((e) => e.type), ['otp.undelivered']);
    const bad = await request(app).post('/otp/callbacks/mada').set('authorization', `Bearer ${MADA_TOKEN}`).send({ status: 'DELIVRD' });
    assert.deepEqual([bad.status, (bad.body as { error: { field: string } }).error.field], [400, 'messageId']);
  });
});
