/**
 * The operator dashboard (otpInsightsRouter) in headless Chromium (Debian's `chromium`, driven by
 * playwright-core), against the known dataset of test/helpers/insights-fixture.ts: the charts
 * render with the dataset's figures (bars, lines, labels), the controls refetch, the page fits a
 * 390 px phone without sideways scrolling, no script error happens under its strict CSP, and the
 * admin-token form works behind the example app's guard. Screenshots in test-results/:
 * dashboard-desktop.png (1280 px), dashboard-phone.png (390 px), dashboard-login.png; the desktop
 * one is also copied to docs/images/dashboard.png for the README.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { requireAdminToken } from '../../examples/admin-auth.js';
import { otpInsightsRouter, type InsightsReport } from '../../lib/index.js';
import { computeInsights, insightsFixture, type InsightsFixture } from '../helpers/insights-fixture.js';

const CHROMIUM = process.env.OTP_TEST_CHROMIUM ?? '/usr/bin/chromium';
const RESULTS = fileURLToPath(new URL('../../test-results/', import.meta.url));
const DOCS_IMAGE = fileURLToPath(new URL('../../docs/images/dashboard.png', import.meta.url));
const ADMIN = 'dashboard-admin-token-0123456789';
const DAY = 86_400_000;
/** The page's and the dataset's clock: a fixed evening, so that today's bucket is mostly full in the screenshots. */
const NOW = Date.UTC(2026, 10, 25, 20, 40, 0);

/** The few DOM parts the in-page functions below use (the project's TypeScript has no DOM lib). */
declare const document: {
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
  querySelectorAll(selector: string): ArrayLike<{ getAttribute(name: string): string | null; textContent: string | null }>;
  readonly documentElement: { readonly scrollWidth: number; readonly clientWidth: number };
};
declare const window: { readonly innerWidth: number };

const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (install Debian's chromium package; CI does)`;
if (skip !== false) console.log(`# dashboard browser test skipped: ${skip}`);

void describe('operator dashboard in headless Chromium', { skip, timeout: 180_000 }, () => {
  let fixture: InsightsFixture;
  let server: Server;
  let base = '';
  let profile = '';
  let context: BrowserContext;
  const pageErrors: string[] = [];

  before(async () => {
    fixture = insightsFixture(() => NOW);
    const app = express();
    app.use('/ops', otpInsightsRouter(fixture));
    app.use('/admin/otp', requireAdminToken(ADMIN), otpInsightsRouter(fixture));
    // A service without insights() (501 NOT_CONFIGURED) and without holds(): the rest still shows.
    app.use('/older', otpInsightsRouter({ events: fixture.events, config: fixture.config }));
    // Provider health as the kit's events report it (the routers listen from their creation on).
    for (let i = 0; i < 40; i += 1) fixture.events.emit('sent', { requestId: `m${i}`, channel: 'sms', provider: 'Mada', attempt: 1, latencyMs: 180 + i });
    for (let i = 0; i < 30; i += 1) fixture.events.emit('sent', { requestId: `t${i}`, channel: 'sms', provider: 'Twilio', attempt: 1, latencyMs: 240 });
    for (let i = 0; i < 12; i += 1) fixture.events.emit('sent', { requestId: `s${i}`, channel: 'sms', provider: 'Sinch', attempt: 1, latencyMs: 300 });
    for (let i = 0; i < 2; i += 1) {
      fixture.events.emit('failed', { requestId: `f${i}`, channel: 'sms', provider: 'Sinch', attempt: 1, latencyMs: 5000, retryable: true, kind: 'timeout', providerCode: undefined, error: 'no answer within 5000 ms' });
    }
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'otp-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
      locale: 'en-US',
      timezoneId: 'UTC',
      timeout: 60_000,
    });
    context.setDefaultTimeout(15_000);
    mkdirSync(RESULTS, { recursive: true });
  });

  after(async () => {
    await context?.close();
    if (server?.listening) await new Promise((resolve) => server.close(resolve));
    if (profile !== '') rmSync(profile, { recursive: true, force: true });
  });

  async function openDashboard(path: string, width: number): Promise<Page> {
    const page = await context.newPage();
    await page.setViewportSize({ width, height: 900 });
    await page.clock.setFixedTime(NOW);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) pageErrors.push(message.text());
    });
    const res = await page.goto(`${base}${path}`);
    assert.equal(res?.status(), 200);
    assert.match(res.headers()['content-security-policy'] ?? '', /default-src 'none'/);
    return page;
  }

  async function loaded(page: Page): Promise<void> {
    await page.waitForSelector('main[aria-busy="false"]');
  }

  const count = (page: Page, selector: string): Promise<number> => page.locator(selector).count();
  const texts = async (page: Page, selector: string): Promise<string[]> => (await page.locator(selector).allTextContents()).map((t) => t.trim());

  it('draws every chart from the figures at desktop width', async () => {
    fixture.queries.length = 0;
    const page = await openDashboard('/ops/', 1280);
    await loaded(page);
    // The page asks for the last 7 calendar days (UTC), today included, for every chart alike.
    const asked = fixture.queries.find((q) => q.groupBy.join() === 'country');
    assert.ok(asked !== undefined);
    assert.equal(asked.from.getTime() % DAY, 0, 'from midnight UTC');
    assert.equal(Math.ceil((asked.to.getTime() - asked.from.getTime()) / DAY), 7);
    assert.ok(fixture.queries.every((q) => q.from.getTime() === asked.from.getTime() && q.to.getTime() === asked.to.getTime()));
    const week = computeInsights(fixture.data, { ...asked, groupBy: ['country'] });

    // Totals.
    assert.equal(await page.innerText('#kpi-requests'), week.totals.requests.toLocaleString('en'));
    assert.equal(await page.innerText('#kpi-verified'), week.totals.verified.toLocaleString('en'));
    assert.match(await page.innerText('#kpi-conversion'), /^[0-9]{1,3}% conversion$/);
    assert.match(await page.innerText('#kpi-cost'), /^€[0-9,.]+$/);

    // Sends and verifications over 7 days: one line and one area per series, a dot per day.
    assert.equal(await count(page, '#chart-time path.line:not(.partial)'), 2);
    assert.equal(await count(page, '#chart-time path.line.partial'), 2, 'today, still filling, is dashed');
    assert.equal(await count(page, '#chart-time path.area'), 2);
    assert.ok((await count(page, '#chart-time circle.dot.requests')) >= 7);
    assert.ok((await texts(page, '#chart-time text.axis-label')).length >= 3, 'day labels on the x axis');
    assert.match((await page.getAttribute('#chart-time svg', 'aria-label')) ?? '', /requests.*verified/);

    // Conversion by country: one bar per country, biggest first, NG flagged as low.
    assert.equal(await count(page, '#chart-country rect.bar'), 7);
    const names = await texts(page, '#chart-country text.bar-name');
    const biggest = [...week.groups].sort((a, b) => b.requests - a.requests)[0]?.key.country;
    assert.equal(names[0], biggest);
    assert.ok(names.includes('NG') && names.includes('unknown'), names.join());
    const low = week.groups.filter((g) => g.requests >= 10 && (g.conversionRate ?? 1) < 0.5).map((g) => g.key.country);
    assert.ok(low.includes('NG'));
    assert.equal(await count(page, '#chart-country rect.bar.low'), low.length, 'countries converting under 50 % stand out (NG pumps)');
    const ng = week.groups.find((g) => g.key.country === 'NG');
    assert.ok(ng !== undefined);
    const ngFigure = (await texts(page, '#chart-country text.value')).find((t) => t.endsWith(`of ${ng.requests.toLocaleString('en')} requests`));
    assert.equal(ngFigure, `${Math.round((ng.conversionRate ?? 0) * 100)}% of ${ng.requests.toLocaleString('en')} requests`);
    const width = Number(await page.locator('#chart-country rect.bar').nth(names.indexOf('NG')).getAttribute('width'));
    const track = Number(await page.locator('#chart-country rect.track').nth(names.indexOf('NG')).getAttribute('width'));
    assert.ok(Math.abs(width / track - (ng.conversionRate ?? 0)) < 0.01, 'the bar is as long as the rate');

    // By provider, refusals side by side with monitor mode, cost.
    assert.deepEqual((await texts(page, '#chart-provider text.bar-name')).sort(), ['Mada', 'Sinch', 'Twilio']);
    assert.equal(await count(page, '#chart-refusals rect.bar.refused'), 4);
    assert.equal(await count(page, '#chart-refusals rect.bar.monitored'), 4);
    assert.match((await page.getAttribute('#chart-refusals svg', 'aria-label')) ?? '', new RegExp(`Rate limits ${week.totals.refusals.limit} refused, ${week.totals.monitored.limit} would refuse`));
    assert.equal(await count(page, '#chart-cost rect.bar.cost'), 7);

    // Holds, locks and provider health.
    assert.deepEqual(await texts(page, '#holds-range .target'), ['+2348031', '+2347062']);
    assert.deepEqual(await texts(page, '#holds-number .target'), ['+35987*****67']);
    assert.deepEqual(await texts(page, '#health .target'), ['Mada', 'Twilio', 'Sinch']);
    assert.deepEqual((await texts(page, '#health .pill')).map((s) => s.toLowerCase()), ['ok', 'ok', 'degraded']);
    // Tables behind the charts (for screen readers and for copying).
    assert.equal(await count(page, '#table-country tbody tr'), 7);
    const breakdown = computeInsights(fixture.data, { ...asked, groupBy: ['country', 'provider'] });
    assert.equal(await count(page, '#table-breakdown tbody tr'), breakdown.groups.length);
    await page.screenshot({ path: join(RESULTS, 'dashboard-desktop.png'), fullPage: true });
    mkdirSync(join(DOCS_IMAGE, '..'), { recursive: true });
    copyFileSync(join(RESULTS, 'dashboard-desktop.png'), DOCS_IMAGE);
    await page.close();
  });

  it('refetches on the period and groupBy controls', async () => {
    const page = await openDashboard('/ops/', 1280);
    await loaded(page);
    fixture.queries.length = 0;
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().includes('groupBy=hour')), page.click('#period label:first-of-type')]);
    assert.equal(answer.status(), 200);
    await loaded(page);
    assert.ok((await count(page, '#chart-time circle.dot.requests')) >= 24, 'a point per hour');
    assert.match((await texts(page, '#chart-time text.axis-label'))[0] ?? '', /^[0-9]{2}:00$/);
    const last = (await answer.json()) as InsightsReport;
    const span = Date.parse(last.to) - Date.parse(last.from);
    assert.ok(Date.parse(last.from) % 3_600_000 === 0 && span > 23 * 3_600_000 && span <= DAY, 'the last 24 whole hours, the current one included');

    const [breakdown] = await Promise.all([page.waitForResponse((r) => r.url().includes('groupBy=country%2Cchannel%2Cprovider')), page.check('#group-by input[value=channel]')]);
    const report = (await breakdown.json()) as InsightsReport;
    await page.waitForFunction((n) => document.querySelectorAll('#table-breakdown tbody tr').length === n, report.groups.length);
    assert.match(await page.innerText('#table-breakdown thead'), /country · channel · provider/);
    // Conversion by workflow step (issue 26): the step joins the breakdown's grouping.
    const [bySteps] = await Promise.all([page.waitForResponse((r) => r.url().includes('groupBy=country%2Cchannel%2Cprovider%2Cstep')), page.check('#group-by input[value=step]')]);
    const steps = (await bySteps.json()) as InsightsReport;
    assert.ok(steps.groups.length > 0 && steps.groups.every((g) => g.key.step === '1'), 'the fixture has no workflow: every request is step 1');
    await page.waitForFunction("/country · channel · provider · step/.test(document.querySelector('#table-breakdown thead')?.textContent ?? '')");
    assert.equal(await count(page, '#table-breakdown tbody tr'), steps.groups.length);
    await page.close();
  });

  it('fits a 390 px phone: no sideways scrolling, charts redrawn to the width', async () => {
    const page = await openDashboard('/ops/', 390);
    await loaded(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the phone`);
    const svgWidth = Number(await page.getAttribute('#chart-country svg', 'width'));
    assert.ok(svgWidth <= 390 && svgWidth >= 260, `chart drawn ${svgWidth} px wide`);
    assert.equal(await count(page, '#chart-country rect.bar'), 7);
    await page.screenshot({ path: join(RESULTS, 'dashboard-phone.png'), fullPage: true });
    await page.close();
  });

  it('without insights() says so, and still shows holds and provider health', async () => {
    const page = await openDashboard('/older/', 1280);
    await loaded(page);
    assert.match(await page.innerText('#error'), /Insights are not available from this service/);
    assert.equal(await page.innerText('#chart-country'), 'Not available.');
    assert.equal(await page.innerText('#kpi-requests'), '–');
    assert.deepEqual(await texts(page, '#holds-range li'), ['No range is held.']);
    assert.ok((await count(page, '#health .pill')) >= 1);
    assert.match(await page.innerText('#range-text'), /UTC$/);
    await page.close();
  });

  it('behind the example guard: asks for the admin token once, keeps it for the tab, and says when it is wrong', async () => {
    const page = await openDashboard('/admin/otp/', 1280);
    await page.waitForSelector('#login:not([hidden])');
    assert.equal(await page.isHidden('#kpis'), true, 'no figures without the token');
    await page.screenshot({ path: join(RESULTS, 'dashboard-login.png') });
    await page.fill('#token', 'wrong-token');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => /refused/.test(document.querySelectorAll('#login-msg')[0]?.textContent ?? ''));
    await page.fill('#token', ADMIN);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#login[hidden]', { state: 'attached' });
    await loaded(page);
    assert.equal(await count(page, '#chart-country rect.bar'), 7);
    // A reload keeps the token (sessionStorage), so no second prompt.
    await page.reload();
    await loaded(page);
    assert.equal(await page.isHidden('#login'), true);
    assert.equal(await count(page, '#chart-country rect.bar'), 7);
    await page.close();
    assert.deepEqual(pageErrors, [], 'no script errors under the strict CSP');
  });
});
