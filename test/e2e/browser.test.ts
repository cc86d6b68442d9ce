/**
 * The demo page of the example app in headless Chromium (Debian's `chromium`, driven by
 * playwright-core): a person enters a number, picks SMS or call, types the code the Console
 * provider printed, sees the verified state and runs the guarded action; the resend cooldown is
 * counted down from Retry-After, and wrong codes, bad numbers and a dead server are shown as
 * sentences; after the guarded action every step agrees the verification is spent (no "verified"
 * left in step 2, no used code in the field), and the page says where the Console provider prints
 * the code. Screenshots in test-results/: demo.png (verified), demo-done.png (after the guarded
 * action), demo-cooldown.png (the resend countdown).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createExampleApp } from '../../examples/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createTestKit, type TestKit } from '../helpers/kit.js';

const CHROMIUM = process.env.OTP_TEST_CHROMIUM ?? '/usr/bin/chromium';
const RESULTS = fileURLToPath(new URL('../../test-results/', import.meta.url));
/** The few DOM parts the in-page functions below use (the project's TypeScript has no DOM lib). */
declare const document: {
  querySelector(selector: string): unknown;
  getElementById(id: string): { textContent: string | null } | null;
  readonly activeElement: { readonly id: string } | null;
};

const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (install Debian's chromium package; CI does)`;
if (skip !== false) console.log(`# browser test skipped: ${skip}`);

void describe('demo page in headless Chromium', { skip, timeout: 120_000 }, () => {
  let db: TestDatabase;
  let kit: TestKit;
  let server: Server;
  let base = '';
  let profile = '';
  let context: BrowserContext;
  const pageErrors: string[] = [];

  before(async () => {
    db = await createTestDatabase('sqlite');
    // The real clock: the page counts the code and token lifetimes down against the browser's clock.
    // The default limits, with a 3 s resend cooldown so that the countdown can be watched to its end.
    // "Call me instead" is offered after a 2 s channel-switch cooldown.
    kit = await createTestKit(db, { clock: Date.now, limits: { sendCooldownSeconds: 3, channelSwitchCooldownSeconds: 2 } });
    server = createExampleApp(kit.otp, {}).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'otp-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 560, height: 1000 },
      timeout: 60_000,
    });
    context.setDefaultTimeout(10_000);
  });

  after(async () => {
    await context?.close();
    if (server?.listening) await new Promise((resolve) => server.close(resolve));
    await kit?.otp.close();
    await db?.destroy();
    if (profile !== '') rmSync(profile, { recursive: true, force: true });
  });

  async function openPage(): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) pageErrors.push(message.text());
    });
    const res = await page.goto(`${base}/`);
    assert.equal(res?.status(), 200);
    assert.match(res.headers()['content-security-policy'] ?? '', /default-src 'self'/);
    return page;
  }

  /**
   * Clicks, waits for the answer of `path` and then for the page to show the outcome (the page
   * marks a step aria-busy from the click until its message is rendered).
   */
  async function clickFor(page: Page, selector: string, path: string): Promise<number> {
    const [response] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === path), page.click(selector)]);
    await page.waitForFunction(() => document.querySelector('[aria-busy="true"]') === null);
    return response.status();
  }

    const text = (page: Page, selector: string) => page.locator(selector).innerText();

  it('sends by SMS, verifies the printed code, shows the verified state and runs the guarded action', async () => {
    const page = await openPage();
    assert.equal(await page.isDisabled('#code'), true, 'the code field waits for a send');
    assert.equal(await page.isDisabled('#delete'), true, 'the action waits for a verification');
    assert.match(await text(page, '#state-text'), /Not verified/);
    assert.match(await text(page, '#console-hint'), /prints the code in the server console/, 'a developer learns where the code is');

    await page.fill('#phone', '+359 87 123 4567');
    assert.equal(await clickFor(page, '#send', '/otp/sms'), 202);
    assert.match(await text(page, '#send-msg'), /We sent a code by text message\. It works for 5 minutes\./);
    assert.match(kit.delivered.at(-1) ?? '', /^OTP [0-9]{6} for \+359/);
    assert.doesNotMatch(kit.delivered.at(-1) ?? '', /\(call\)/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'code', 'focus moves to the code');

    await page.fill('#code', kit.lastCode());
    assert.equal(await clickFor(page, '#verify', '/otp/verify'), 200);
    assert.equal(await text(page, '#verify-msg'), 'Your phone number is verified.');
    assert.equal(await page.inputValue('#code'), '', 'the spent code leaves the field');
    assert.equal(await page.isDisabled('#code'), true);
    assert.match(await text(page, '#state-text'), /^\+359 87 123 4567 is verified \(valid for [45]:[0-9]{2}\)$/);
    assert.equal(await page.isEnabled('#delete'), true);
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'demo.png'), fullPage: true });

    assert.equal(await clickFor(page, '#delete', '/account/delete'), 200);
    assert.match(await text(page, '#delete-msg'), /^Done: the account for \+359871234567 would now be deleted \(demo\)\./);
    assert.match(await text(page, '#state-text'), /Not verified/);
    assert.equal(await text(page, '#verify-msg'), 'That verification was used. Send a new code to verify again.', 'step 2 agrees with step 3');
    assert.doesNotMatch(await text(page, '#step-verify'), /is verified/);
    assert.equal(await page.inputValue('#code'), '');
    assert.equal(await page.isDisabled('#delete'), true, 'a token works once');

    await page.screenshot({ path: join(RESULTS, 'demo-done.png'), fullPage: true });
    assert.ok(existsSync(join(RESULTS, 'demo.png')) && existsSync(join(RESULTS, 'demo-done.png')));
    await page.close();
  });

  it('offers "call me instead" after the switch cooldown: the call supersedes the texted code; the code field is a one-time-code field', async () => {
    const page = await openPage();
    assert.equal(await page.getAttribute('#code', 'autocomplete'), 'one-time-code', 'browsers offer the code from the SMS');
    assert.equal(await page.getAttribute('#code', 'inputmode'), 'numeric');
    assert.equal(await page.isHidden('#call-instead'), true, 'nothing to switch from yet');
    await page.fill('#phone', '+359 87 123 4569');
    assert.equal(await clickFor(page, '#send', '/otp/sms'), 202);
    const texted = kit.lastCode();
    assert.equal(await page.isVisible('#call-instead'), true);
    assert.equal(await page.isDisabled('#call-instead'), true, 'not before the switch cooldown');
    assert.match(await text(page, '#call-hint'), /You can ask for a call in [12] seconds?\./);
    await page.waitForSelector('#call-instead:not([disabled])', { timeout: 5000 });
    assert.match(await text(page, '#call-hint'), /We can call you with a code instead\./);
    assert.equal(await clickFor(page, '#call-instead', '/otp/resend'), 202);
    assert.match(kit.delivered.at(-1) ?? '', /^OTP [0-9]{6} for \+359.* \(call\)$/, 'the code came by call');
    const called = kit.lastCode();
    assert.match(await text(page, '#send-msg'), /We are calling you with a new code\. The code we texted before no longer works\./);
    assert.equal(await page.isHidden('#call-instead'), true, 'a call needs no "call me instead"');
    if (texted !== called) {
      await page.fill('#code', texted);
      assert.equal(await clickFor(page, '#verify', '/otp/verify'), 422, 'the texted code was superseded');
    }
    await page.fill('#code', called);
    assert.equal(await clickFor(page, '#verify', '/otp/verify'), 200);
    assert.equal(await text(page, '#verify-msg'), 'Your phone number is verified.');
    await page.close();
  });

  it('by voice call: a resend inside the cooldown counts down from Retry-After; wrong codes show the tries left; a new code works', async () => {
    const page = await openPage();
    await page.fill('#phone', '+359871234568');
    await page.check('input[name=channel][value=call]');
    assert.equal(await clickFor(page, '#send', '/otp/call'), 202);
    assert.match(await text(page, '#send-msg'), /We are calling you with a code\./);
    assert.match(kit.delivered.at(-1) ?? '', /\(call\)$/);
    const code = kit.lastCode();
    const wrong = code === '000000' ? '111111' : '000000';

    // At once "Send a new code": the cooldown answers 429 with Retry-After, and the page counts down.
    assert.equal(await clickFor(page, '#resend', '/otp/call'), 429);
    const countdown = /^The code we sent still works\. You can ask for a new one in [1-3] seconds?\.$/;
    const first = await text(page, '#send-msg');
    assert.match(first, countdown);
    assert.equal(await page.isDisabled('#send'), true, 'no sending during the cooldown');
    assert.equal(await page.isDisabled('#resend'), true);
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'demo-cooldown.png'), fullPage: true });
    await page.waitForFunction((before) => document.getElementById('send-msg')?.textContent !== before, first, { timeout: 3000 });
    await page.waitForFunction(() => document.getElementById('send-msg')?.textContent === 'You can ask for a new code now.', undefined, { timeout: 5000 });
    assert.equal(await page.isEnabled('#send'), true);
    assert.equal(await page.isEnabled('#resend'), true);

    // The first code is still the live one: wrong guesses count down the tries.
    const maxAttempts = kit.otp.config.maxAttempts;
    for (let left = maxAttempts - 1; left >= 1; left -= 1) {
      await page.fill('#code', wrong);
      assert.equal(await clickFor(page, '#verify', '/otp/verify'), 422);
      assert.equal(await text(page, '#verify-msg'), `That code isn't right. You have ${left} ${left === 1 ? 'try' : 'tries'} left.`);
      assert.equal(await page.isEnabled('#code'), true);
    }
    await page.fill('#code', wrong);
    assert.equal(await clickFor(page, '#verify', '/otp/verify'), 422);
    assert.equal(await text(page, '#verify-msg'), "That code isn't right, and that was the last try. Ask for a new code.");
    assert.equal(await page.isDisabled('#code'), true, 'a dead request takes no more codes');
    assert.equal(await page.isDisabled('#delete'), true);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'resend', 'focus moves to "Send a new code"');

    // "Send a new code" resends on the same channel; the fresh code verifies.
    assert.equal(await clickFor(page, '#resend', '/otp/call'), 202);
    await page.fill('#code', kit.lastCode());
    assert.equal(await clickFor(page, '#verify', '/otp/verify'), 200);
    assert.match(await text(page, '#state-text'), /is verified/);
    await page.close();
  });

  it('explains a malformed number, a wrong-length code and an unknown request in plain words', async () => {
    const page = await openPage();
    await page.click('#send');
    assert.equal(await text(page, '#send-msg'), 'Enter your phone number first.');
    await page.fill('#phone', '+3598');
    assert.equal(await clickFor(page, '#send', '/otp/sms'), 400);
    assert.match(await text(page, '#send-msg'), /doesn't look like a phone number/);

    await page.fill('#phone', '+359871234570');
    assert.equal(await clickFor(page, '#send', '/otp/sms'), 202);
    await page.fill('#code', '123');
    assert.equal(await clickFor(page, '#verify', '/otp/verify'), 400);
    assert.equal(await text(page, '#verify-msg'), 'Enter all 6 digits of the code we sent you.');

    // Verified elsewhere (another tab): this page's request is gone.
    await kit.otp.verify('+359871234570', kit.lastCode());
    await page.fill('#code', kit.lastCode());
    assert.equal(await clickFor(page, '#verify', '/otp/verify'), 422);
    assert.equal(await text(page, '#verify-msg'), "There's no code waiting for this number. Ask for a new one.");
    await page.close();
  });

  it('says so when the server cannot be reached, and the page never logged an error', async () => {
    const page = await openPage();
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
    await page.fill('#phone', '+359871234572');
    await page.click('#send');
    await page.waitForFunction(() => /reach the server/.test(document.getElementById('send-msg')?.textContent ?? ''));
    assert.equal(await text(page, '#send-msg'), "We can't reach the server. Check your connection and try again.");
    assert.equal(await page.isEnabled('#send'), true, 'the person can try again');
    await page.close();
    assert.deepEqual(pageErrors, [], 'no script errors (the CSP allows the inline script)');
  });
});
