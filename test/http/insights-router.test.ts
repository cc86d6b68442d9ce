/**
 * `otpInsightsRouter`: the dashboard page and its JSON. Against a source that computes the Insights
 * contract from a known dataset (test/helpers/insights-fixture.ts), and against a real `createOtp()`
 * on each database (501 NOT_CONFIGURED while the service has no insights(), the contract once it has).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import express, { type Express } from 'express';
import request from 'supertest';
import { INSIGHTS_DIMENSIONS, maskPhone, OtpError, otpInsightsRouter, type InsightsReport, type OtpInsightsSource } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { computeInsights, insightsFixture } from '../helpers/insights-fixture.js';
import { createTestKit } from '../helpers/kit.js';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);
const DAY = 86_400_000;

function appOf(source: OtpInsightsSource, options: Parameters<typeof otpInsightsRouter>[1] = {}): Express {
  const app = express();
  app.use('/admin/otp', otpInsightsRouter(source, options));
  return app;
}

type Res = request.Response;
const errorOf = (res: Res): { code?: string; field?: string; message?: string } => (res.body as { error?: { code?: string; field?: string; message?: string } }).error ?? {};

/** The contract's shape, checked field by field (what the page and the CLI rely on). */
function assertReportShape(report: InsightsReport): void {
  assert.ok(!Number.isNaN(Date.parse(report.from)) && !Number.isNaN(Date.parse(report.to)));
  assert.equal(typeof report.currency, 'string');
  for (const group of [report.totals, ...report.groups]) {
    for (const field of ['requests', 'delivered', 'verified', 'failed', 'expired', 'maxAttempts', 'canceled', 'estimatedCost'] as const) assert.equal(typeof group[field], 'number', field);
    assert.ok(group.conversionRate === null || (group.conversionRate >= 0 && group.conversionRate <= 1));
    for (const reason of ['limit', 'policy', 'breaker', 'challenge'] as const) {
      assert.equal(typeof group.refusals[reason], 'number');
      assert.equal(typeof group.monitored[reason], 'number');
    }
  }
  for (const group of report.groups) assert.deepEqual(Object.keys(group.key).sort(), [...report.groupBy].sort());
}

describe('otpInsightsRouter with a known dataset', () => {
  const fixture = insightsFixture(() => NOW);
  const app = appOf(fixture);

  it('answers /insights with the figures of the dataset, grouped as asked, no-store', async () => {
    const res = await request(app).get('/admin/otp/insights?groupBy=country&from=2026-11-18T12:00:00Z&to=2026-11-25T12:00:00Z');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    const report = res.body as InsightsReport;
    assertReportShape(report);
    assert.deepEqual(report, JSON.parse(JSON.stringify(computeInsights(fixture.data, { from: new Date(NOW - 7 * DAY), to: new Date(NOW), groupBy: ['country'] }))));
    // The counts are those of the rows: totals equal the rows in range, and the groups add up to them.
    const inRange = fixture.data.requests.filter((r) => r.at >= NOW - 7 * DAY && r.at < NOW);
    assert.ok(inRange.length > 500, 'a realistic dataset');
    assert.equal(report.totals.requests, inRange.length);
    assert.equal(report.totals.verified, inRange.filter((r) => r.outcome === 'verified').length);
    assert.equal(report.groups.reduce((sum, g) => sum + g.requests, 0), report.totals.requests);
    assert.deepEqual(report.groups.map((g) => g.key.country).sort(), ['BG', 'DE', 'FR', 'GB', 'NG', 'US', 'ZZ']);
    const ng = report.groups.find((g) => g.key.country === 'NG');
    assert.ok(ng !== undefined && ng.conversionRate !== null && ng.conversionRate < 0.3, 'NG converts badly (pumping)');
  });

  it('defaults to the last 7 days by the kit clock; period picks 24h, 7d, 30d or 90d; groupBy takes several dimensions', async () => {
    fixture.queries.length = 0;
    assert.equal((await request(app).get('/admin/otp/insights')).status, 200);
    assert.equal((await request(app).get('/admin/otp/insights?period=24h&groupBy=hour')).status, 200);
    const several = await request(app).get('/admin/otp/insights?period=30d&groupBy=country,provider,day');
    assert.equal(several.status, 200);
    assert.deepEqual((several.body as InsightsReport).groupBy, ['country', 'provider', 'day']);
    assert.deepEqual(
      fixture.queries.map((q) => [q.from.toISOString(), q.to.toISOString(), q.groupBy]),
      [
        [new Date(NOW - 7 * DAY).toISOString(), new Date(NOW).toISOString(), []],
        [new Date(NOW - DAY).toISOString(), new Date(NOW).toISOString(), ['hour']],
        [new Date(NOW - 30 * DAY).toISOString(), new Date(NOW).toISOString(), ['country', 'provider', 'day']],
      ],
    );
    const all = await request(app).get(`/admin/otp/insights?groupBy=${INSIGHTS_DIMENSIONS.join(',')}&period=24h`);
    assert.equal(all.status, 200);
  });

  it('refuses bad input with 400 VALIDATION_FAILED naming the field, never a 500', async () => {
    const cases: Array<[string, string]> = [
      ['groupBy=bogus', 'groupBy'],
      ['groupBy=country,country', 'groupBy'],
      ['groupBy=Country', 'groupBy'],
      ['groupBy=country&groupBy=day', 'groupBy'],
      ['groupBy[a]=country', 'groupBy'],
      ['from=yesterday', 'from'],
      ['from=1732000000000', 'from'],
      ['to=2026-13-40', 'to'],
      ['from=2026-11-25T12:00:00Z&to=2026-11-20T00:00:00Z', 'from'],
      ['from=2026-11-25T12:00:00Z&to=2026-11-25T12:00:00Z', 'from'],
      ['from=2020-01-01&to=2026-01-01', 'from'],
      ['period=1y', 'period'],
      ['period=7d&from=2026-11-20', 'period'],
      ['limit=5', 'limit'],
      [`groupBy=${'x'.repeat(300)}`, 'groupBy'],
    ];
    for (const [query, field] of cases) {
      const res = await request(app).get(`/admin/otp/insights?${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.equal(errorOf(res).code, 'VALIDATION_FAILED', query);
      // Express 5 keeps `groupBy[a]` as a parameter name; Express 4's qs makes it an object.
      assert.ok(errorOf(res).field?.startsWith(field), `${query}: ${res.text}`);
      assert.match(errorOf(res).message ?? '', new RegExp(field), `${query}: the message names the field`);
    }
    const narrow = appOf(fixture, { maxRangeDays: 31 });
    assert.equal((await request(narrow).get('/admin/otp/insights?period=90d')).status, 400);
    assert.equal((await request(narrow).get('/admin/otp/insights?period=30d')).status, 200);
  });

  it('serves the page with a strict Content-Security-Policy, its script and stylesheet, and adds the trailing slash', async () => {
    const page = await request(app).get('/admin/otp/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.match(page.text, /<script type="module" src="dashboard\.js"><\/script>/);
    assert.doesNotMatch(page.text, /<script>|<style>|\son[a-z]+=|https?:\/\//i, 'no inline code, nothing from another host');
    const script = await request(app).get('/admin/otp/dashboard.js');
    assert.equal(script.status, 200);
    assert.match(String(script.headers['content-type']), /javascript/);
    for (const text of [script.text, (await request(app).get('/admin/otp/charts.js')).text]) {
      assert.doesNotMatch(text, /https?:\/\/(?!www\.w3\.org\/2000\/svg)|innerHTML|eval\(/, 'no other host, no HTML injection');
    }
    const charts = await request(app).get('/admin/otp/charts.js');
    assert.equal(charts.status, 200);
    assert.match(String(charts.headers['content-type']), /javascript/);
    assert.match(script.text, /from '\.\/charts\.js'/, 'the page script imports the chart helpers from beside it');
    const css = await request(app).get('/admin/otp/dashboard.css');
    assert.equal(css.status, 200);
    assert.match(String(css.headers['content-type']), /text\/css/);
    assert.doesNotMatch(css.text, /@import|url\(/);
    const bare = await request(app).get('/admin/otp?x=1');
    assert.deepEqual([bare.status, bare.headers.location], [301, '/admin/otp/?x=1']);
  });

  it('lists holds and locks; a number is never shown in full, whatever the source gives', async () => {
    const res = await request(app).get('/admin/otp/holds');
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual((res.body as Array<{ kind: string; target: string }>).map((h) => [h.kind, h.target]), [
      ['range', '+2348031'],
      ['range', '+2347062'],
      ['number', '+35987*****67'],
    ]);
    const leaky = insightsFixture(() => NOW, [
      { kind: 'number', target: '+359871234567', reason: 'locked after 5 wrong codes to +359871234567', since: new Date(NOW).toISOString(), until: new Date(NOW + 60_000).toISOString() },
      { kind: 'range', target: '+359871234567890', reason: 'breaker', since: new Date(NOW).toISOString(), until: new Date(NOW + 60_000).toISOString() },
    ]);
    const masked = await request(appOf(leaky)).get('/admin/otp/holds');
    assert.equal(masked.status, 200);
    assert.doesNotMatch(masked.text, /1234567/);
    assert.deepEqual((masked.body as Array<{ target: string }>).map((h) => h.target), [maskPhone('+359871234567'), maskPhone('+359871234567890')]);
    // A source without holds() (an older service): an empty list.
    const bare = await request(appOf({ insights: (query) => Promise.resolve(computeInsights(fixture.data, query)) })).get('/admin/otp/holds');
    assert.deepEqual([bare.status, bare.body], [200, []]);
  });

  it('shows provider health from the kit events, scrubbed of numbers', async () => {
    const source = insightsFixture(() => NOW);
    const health = appOf(source);
    source.events.emit('sent', { requestId: 'r1', channel: 'sms', provider: 'Twilio', attempt: 1, latencyMs: 120 });
    source.events.emit('failed', { requestId: 'r2', channel: 'sms', provider: 'Sinch', attempt: 1, latencyMs: 900, retryable: true, kind: 'unavailable', providerCode: '503', error: 'timeout sending to +359871234567' });
    const res = await request(health).get('/admin/otp/provider-health');
    assert.equal(res.status, 200);
    assert.doesNotMatch(res.text, /871234567/);
    const providers = (res.body as { providers: Array<{ provider: string; status: string }> }).providers;
    assert.deepEqual(providers.map((p) => [p.provider, p.status]), [['Twilio', 'ok'], ['Sinch', 'degraded']]);
  });

  it('answers 501 NOT_CONFIGURED without insights(), a logged 500 when insights() fails, and refuses bad options', async () => {
    const none = await request(appOf({})).get('/admin/otp/insights');
    assert.deepEqual([none.status, errorOf(none).code], [501, 'NOT_CONFIGURED']);
    // Bad input is still a 400 first.
    assert.equal((await request(appOf({})).get('/admin/otp/insights?groupBy=x')).status, 400);
    const broken = await request(appOf({ insights: () => Promise.reject(new Error('select … where phone = +359871234567')) })).get('/admin/otp/insights');
    assert.deepEqual([broken.status, errorOf(broken).code], [500, 'INTERNAL_ERROR']);
    assert.doesNotMatch(broken.text, /871234567|select/);
    assert.throws(() => otpInsightsRouter(fixture, { maxRangDays: 3 } as never), (e: unknown) => e instanceof OtpError && e.code === 'CONFIG_INVALID' && /maxRangDays/.test(e.message));
    assert.throws(() => otpInsightsRouter(fixture, { maxRangeDays: 0 }), /maxRangeDays/);
    assert.throws(() => otpInsightsRouter(null as never), TypeError);
  });
});

forEachDatabase('otpInsightsRouter on createOtp()', (db) => {
  it('mounts on the real service: insights (or 501 until the service has them), holds, provider health after a send', async () => {
    const kit = await createTestKit(db());
    const app = appOf(kit.otp);
    await kit.otp.sendSms('+359871234567');
    const insights = await request(app).get('/admin/otp/insights?groupBy=country');
    const service = kit.otp as unknown as OtpInsightsSource;
    if (typeof service.insights === 'function') {
      assert.equal(insights.status, 200, insights.text);
      assertReportShape(insights.body as InsightsReport);
    } else {
      assert.deepEqual([insights.status, errorOf(insights).code], [501, 'NOT_CONFIGURED']);
      assert.ok(!kit.logs.some((line) => line.includes('NOT_CONFIGURED')), 'a missing insights() is no error log line');
    }
    assert.equal((await request(app).get('/admin/otp/insights?groupBy=nope')).status, 400);
    const holds = await request(app).get('/admin/otp/holds');
    assert.equal(holds.status, 200);
    assert.ok(Array.isArray(holds.body));
    const health = await request(app).get('/admin/otp/provider-health');
    assert.equal(health.status, 200);
    assert.deepEqual((health.body as { providers: Array<{ provider: string; status: string; recentCalls: number }> }).providers.map((p) => [p.provider, p.status, p.recentCalls]), [['Console', 'ok', 1]]);
    assert.doesNotMatch(health.text + holds.text, /871234567/);
    assert.equal((await request(app).get('/admin/otp/')).status, 200);
  });
});
