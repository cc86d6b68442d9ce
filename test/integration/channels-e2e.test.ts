/**
 * Issue 16 end to end, with the real SDKs against the loopback fakes: WhatsApp through Twilio and
 * Sinch (and 422 with neither), the channel fallback from a failing SMS chain to a call on another
 * vendor, "call me instead" (`POST /resend`) superseding the first code under its own cooldown,
 * localized texts chosen per locale with their fallback chain (and the locale handed to Twilio and
 * Sinch), and the WebOTP line and app hash, kept with the localized text on the retry path.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, it } from 'node:test';
import express, { type Express } from 'express';
import request from 'supertest';
import { createOtp, otpErrorHandler, otpRouter, type Otp, type OtpOptions } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { fakeEnv, phone, recordingLogger, testClock, useFakes, type TestClock } from './harness.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const fakes = useFakes();
const TEMPLATES = { en: 'Your code is _CODE_', de: 'Dein Code lautet _CODE_', 'pt-BR': 'Seu código é _CODE_' };
const APP_HASH = 'FA+9qCX9VSu';

forEachDatabase('channels, fallback, locales and one-tap entry', (db) => {
  let otp: Otp;
  let app: Express;
  let clock: TestClock;

  async function start(routing: string, options: OtpOptions = {}): Promise<void> {
    clock = testClock();
    otp = createOtp({ db: db().knex, env: fakeEnv(fakes(), routing), logger: recordingLogger(), clock, providerTimeoutMs: 3000, ...options });
    await otp.migrate();
    app = express();
    app.use('/otp', otpRouter(otp));
    app.use(otpErrorHandler());
  }
  const post = (path: string, body: object): request.Test => request(app).post(`/otp${path}`).send(body);

  beforeEach(() => fakes().reset());
  afterEach(async () => {
    fakes().assertNoProtocolProblems();
    await otp.close();
  });

  it('WhatsApp through Twilio Verify: Channel=whatsapp on the wire, channel whatsapp in the answer, the row and the events; the code verifies', async () => {
    await start('Twilio');
    const channels: string[] = [];
    otp.events.on('sent', (e) => channels.push(e.channel));
    const to = phone('+4670');
    const res = await post('/whatsapp', { phone: to }).expect(202);
    assert.equal(res.body.channel, 'whatsapp');
    const sends = fakes().twilio.requests.filter((r) => r.op === 'send');
    assert.equal(sends.length, 1);
    assert.equal(sends[0]?.form.Channel, 'whatsapp');
    assert.equal(fakes().twilio.verifications.at(-1)?.channel, 'whatsapp');
    assert.deepEqual(channels, ['whatsapp']);
    const row = await db().knex('otp_requests').where({ request_id: res.body.requestId }).first();
    assert.equal(row.channel, 'whatsapp');
    const verified = await post('/verify', { phone: to, code: fakes().codeFor('Twilio', to) }).expect(200);
    assert.equal(verified.body.codeValid, true);
  });

  it('WhatsApp through Sinch: method whatsapp to start and to report; otp.sendWhatsapp from code', async () => {
    await start('Sinch');
    const to = phone('+4670');
    const sent = await otp.sendWhatsapp(to);
    assert.equal(sent.channel, 'whatsapp');
    assert.equal(sent.provider, 'Sinch');
    assert.equal(fakes().sinch.deliveries.at(-1)?.method, 'whatsapp');
    const result = await otp.verify(to, fakes().codeFor('Sinch', to));
    assert.equal(result.codeValid, true);
    const report = fakes().sinch.requests.find((r) => r.operation === 'report');
    assert.equal((report?.body as { method?: string }).method, 'whatsapp');
  });

  it('WhatsApp where no routed provider has it (Mada): 422 CHANNEL_UNSUPPORTED, nothing stored or sent', async () => {
    await start('Mada');
    const to = phone('+35987');
    const res = await post('/whatsapp', { phone: to }).expect(422);
    assert.equal(res.body.error.code, 'CHANNEL_UNSUPPORTED');
    assert.equal(fakes().mada.requests.length, 0);
    assert.equal((await db().knex('otp_requests').where({ phone: to })).length, 0);
  });

  it('channelFallback: every SMS provider fails, the code goes out as a Twilio call, the answer says call, and it verifies', async () => {
    await start('Mada:+35987;Twilio', { channelFallback: { sms: ['call'] } });
    fakes().mada.setReplies([], 8); // RSYSERR: Mada is down
    fakes().twilio.queueBehaviour({ type: 'error', status: 503, code: 20503, message: 'Service unavailable' }, 'send'); // Twilio's SMS fails once
    const to = phone('+35987');
    const res = await post('/sms', { phone: to }).expect(202);
    assert.equal(res.body.channel, 'call');
    assert.equal(res.body.status, 'sent');
    const sends = fakes().twilio.requests.filter((r) => r.op === 'send').map((r) => r.form.Channel);
    assert.deepEqual(sends, ['sms', 'call']);
    assert.equal(fakes().mada.requests.length, 1);
    const row = await db().knex('otp_requests').where({ request_id: res.body.requestId }).first();
    assert.equal(row.chain, 'Mada,Twilio,call:Twilio');
    assert.equal(row.channel, 'call');
    assert.equal(row.provider, 'Twilio');
    await post('/verify', { phone: to, code: fakes().codeFor('Twilio', to) }).expect(200);
  });

  it('without channelFallback the same failures are 503 PROVIDER_UNAVAILABLE (no call is placed)', async () => {
    await start('Mada:+35987;Twilio');
    fakes().mada.setReplies([], 8);
    fakes().twilio.queueBehaviour({ type: 'error', status: 503, code: 20503 }, 'send');
    const res = await post('/sms', { phone: phone('+35987') }).expect(503);
    assert.equal(res.body.error.code, 'PROVIDER_UNAVAILABLE');
    assert.deepEqual(fakes().twilio.requests.map((r) => r.form.Channel), ['sms']);
  });

  it('POST /resend on another channel: own cooldown, counted against the same limits, supersedes the first code', async () => {
    // A 3 s switch cooldown: its counter runs on the wall clock, so the test waits for real.
    await start('Mada:+35987;Twilio', { limits: { sendsPerNumber: { max: 2, windowSeconds: 600 }, channelSwitchCooldownSeconds: 3 } });
    const hits: string[] = [];
    otp.events.on('limit-hit', (e) => hits.push(e.limit));
    // No live request: the same 202 a live one would get (audit 23.1), and nothing is sent.
    await post('/resend', { phone: phone('+35987'), channel: 'call' }).expect(202);
    assert.equal(fakes().twilio.requests.length + fakes().mada.requests.length, 0);
    const to = phone('+35987');
    await post('/sms', { phone: to }).expect(202);
    const smsCode = fakes().codeFor('Mada', to);
    // The regular 60 s cooldown still holds for another SMS; a switch waits 3 s from the first code.
    await post('/sms', { phone: to }).expect(429);
    clock.advance(1_000);
    const early = await post('/resend', { phone: to, channel: 'call' }).expect(429);
    assert.equal(early.headers['retry-after'], '2');
    await sleep(3_100);
    clock.advance(2_100);
    const switched = await post('/resend', { phone: to, channel: 'call' }).expect(202);
    assert.equal(switched.body.channel, 'call');
    assert.equal(fakes().twilio.requests.at(-1)?.form.Channel, 'call');
    // The first code is superseded: the SMS code is no longer accepted, the call's is.
    const old = await post('/verify', { phone: to, code: smsCode });
    assert.equal(old.status, 422);
    // Once the switch's own window is over, the switch still counted against sendsPerNumber (max 2): a third send is refused.
    await sleep(3_100);
    clock.advance(3_100);
    await post('/resend', { phone: to, channel: 'sms' }).expect(429);
    assert.equal(hits.at(-1), 'sendsPerNumber');
    await post('/verify', { phone: to, code: fakes().codeFor('Twilio', to) }).expect(200);
  });

  it('localized texts: locale field, then Accept-Language, each walking its fallback chain to the default', async () => {
    await start('Mada', { messageTemplates: TEMPLATES, limits: false });
    const cases: Array<[object, Record<string, string>, string]> = [
      [{ locale: 'de-AT' }, {}, 'Dein Code lautet '],
      [{}, { 'Accept-Language': 'pt-br, en;q=0.5' }, 'Seu código é '],
      [{}, { 'Accept-Language': 'fr-CH, fr;q=0.9' }, 'Your code is '],
      [{ locale: 'sv' }, { 'Accept-Language': 'de' }, 'Your code is '],
      [{}, { 'Accept-Language': 'x_y!!, de-DE;q=0.8' }, 'Dein Code lautet '],
    ];
    for (const [extra, headers, prefix] of cases) {
      const to = phone('+35987');
      await post('/sms', { phone: to, ...extra }).set(headers).expect(202);
      const text = fakes().mada.messagesTo(to).at(-1) ?? '';
      assert.ok(text.startsWith(prefix), `${JSON.stringify({ extra, headers })}: ${text}`);
    }
    const bad = await post('/sms', { phone: phone('+35987'), locale: 'de_AT' }).expect(400);
    assert.equal(bad.body.error.field, 'locale');
    await assert.rejects(otp.sendSms(phone('+35987'), { locale: 'not a tag' }), (e: { code?: string; details?: { field?: string } }) => e.code === 'VALIDATION_FAILED' && e.details?.field === 'locale');
  });

  it('the locale goes to Twilio (Locale, narrowed to its list) and Sinch (Accept-Language for SMS, speech locale for calls)', async () => {
    await start('Twilio;Sinch', { limits: false, channelFallback: { sms: ['call'] } });
    const a = phone('+4670');
    await post('/sms', { phone: a, locale: 'de-AT' }).expect(202);
    assert.equal(fakes().twilio.requests.at(-1)?.form.Locale, 'de');
    const b = phone('+4670');
    await post('/sms', { phone: b, locale: 'tlh' }).expect(202); // Klingon: Twilio picks its own default
    assert.equal(fakes().twilio.requests.at(-1)?.form.Locale, undefined);
    fakes().twilio.setBehaviour({ type: 'error', status: 503, code: 20503 }, 'send');
    const c = phone('+4670');
    await post('/sms', { phone: c, locale: 'pt-BR' }).expect(202);
    assert.equal(fakes().sinch.deliveries.at(-1)?.locale, 'pt-BR');
    assert.equal(fakes().sinch.deliveries.at(-1)?.method, 'sms');
    fakes().sinch.set({ start: { type: 'error', httpStatus: 503, errorCode: 50300 } });
    fakes().sinch.enqueue('start', { type: 'error', httpStatus: 503, errorCode: 50300 }, { type: 'logic' });
    const d = phone('+4670');
    const res = await post('/sms', { phone: d, locale: 'de-DE' }).expect(202);
    assert.equal(res.body.channel, 'call');
    assert.deepEqual([fakes().sinch.deliveries.at(-1)?.method, fakes().sinch.deliveries.at(-1)?.locale], ['callout', 'de-DE']);
  });

  it('webOtp: the last line is "@host #code", the app hash is in the text, and a retried send keeps the localized text', async () => {
    await start('Mada', { messageTemplates: TEMPLATES, webOtp: { origin: 'https://shop.example.com', appHash: APP_HASH }, sms: { retry: true, maxRetries: 3 }, limits: false });
    fakes().mada.setReplies([8], 0); // the first attempt fails, later ones are accepted
    const to = phone('+35987');
    const res = await post('/sms', { phone: to, locale: 'de' }).expect(202);
    assert.equal(res.body.status, 'queued');
    const poller = otp.startRetryPoller({ pollInterval: 20 });
    try {
      clock.advance(60_000);
      const until = Date.now() + 5000;
      while (fakes().mada.messagesTo(to).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await poller.stop();
    }
    const text = fakes().mada.messagesTo(to).at(-1) ?? '';
    const lines = text.split('\n');
    const code = /^@shop\.example\.com #([0-9]{6})$/.exec(lines.at(-1) ?? '')?.[1];
    assert.ok(code !== undefined, `WebOTP line missing or malformed: ${JSON.stringify(text)}`);
    assert.equal(lines[0], `Dein Code lautet ${code}`);
    assert.ok(lines.includes(APP_HASH), 'the app hash is in the text');
    assert.equal(fakes().mada.requests.length, 2);
    await post('/verify', { phone: to, code }).expect(200);
  });

  it('webOtp with Twilio: AppHash goes to Twilio for SMS only; a WhatsApp send carries none', async () => {
    await start('Twilio', { webOtp: { origin: 'https://shop.example.com', appHash: APP_HASH }, limits: false });
    await post('/sms', { phone: phone('+4670') }).expect(202);
    assert.equal(fakes().twilio.requests.at(-1)?.form.AppHash, APP_HASH);
    await post('/whatsapp', { phone: phone('+4670') }).expect(202);
    assert.equal(fakes().twilio.requests.at(-1)?.form.AppHash, undefined);
  });
});
