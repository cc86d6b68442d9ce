/**
 * The example app's operator views (examples/app.ts with OTP_ADMIN_TOKEN): the dashboard and the
 * status JSON at /admin/otp behind `requireAdminToken` (examples/admin-auth.ts). Every JSON answer
 * needs `Authorization: Bearer <token>` (401 otherwise); the page and its two static files load
 * without it (they hold no data); without OTP_ADMIN_TOKEN nothing is mounted.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import request from 'supertest';
import { requireAdminToken } from '../../examples/admin-auth.js';
import { createExampleApp } from '../../examples/app.js';
import type { OtpInsightsSource } from '../../lib/index.js';
import { forEachDatabase } from '../helpers/db.js';
import { createTestKit } from '../helpers/kit.js';

const TOKEN = 'example-admin-token-0123456789abcdef';
const DATA = ['/insights?groupBy=country', '/holds', '/provider-health', '/requests', '/retry-queue', '/providers'];

type Res = request.Response;
const codeOf = (res: Res): string | undefined => (res.body as { error?: { code?: string } }).error?.code;

forEachDatabase('example app: operator views at /admin/otp', (db) => {
  it('refuses every JSON request without the bearer token with 401, and answers with it', async () => {
    const kit = await createTestKit(db());
    const app = createExampleApp(kit.otp, { OTP_ADMIN_TOKEN: TOKEN });
    await kit.otp.sendSms('+359871234567');
    for (const path of DATA) {
      for (const authorization of [undefined, 'Bearer wrong-token', `Bearer ${TOKEN}x`, `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`, TOKEN, 'Bearer ']) {
        const req = request(app).get(`/admin/otp${path}`);
        const res = await (authorization === undefined ? req : req.set('Authorization', authorization));
        assert.equal(res.status, 401, `${path} with ${String(authorization)}`);
        assert.equal(codeOf(res), 'ADMIN_TOKEN_REQUIRED');
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="otp-admin"');
        assert.doesNotMatch(res.text, /871234567|Console/);
      }
      const ok = await request(app).get(`/admin/otp${path}`).set('Authorization', `Bearer ${TOKEN}`);
      const service = kit.otp as unknown as OtpInsightsSource;
      const expected = path.startsWith('/insights') && typeof service.insights !== 'function' ? 501 : 200;
      assert.equal(ok.status, expected, `${path}: ${ok.text}`);
      assert.equal(ok.headers['cache-control'], 'no-store');
      assert.doesNotMatch(ok.text, /871234567/, 'masked numbers only');
    }
    // The scheme name is case-insensitive; anything but GET and HEAD of the page files needs the token.
    assert.equal((await request(app).get('/admin/otp/holds').set('Authorization', `bearer ${TOKEN}`)).status, 200);
    assert.equal((await request(app).post('/admin/otp/')).status, 401);
    assert.equal((await request(app).get('/admin/otp/../otp/holds')).status, 401);
  });

  it('serves the page and its files without the token (they hold no data) so a browser can ask for it', async () => {
    const kit = await createTestKit(db());
    const app = createExampleApp(kit.otp, { OTP_ADMIN_TOKEN: TOKEN });
    const page = await request(app).get('/admin/otp/');
    assert.equal(page.status, 200);
    assert.match(page.text, /<title>OTP insights/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
    assert.equal((await request(app).get('/admin/otp/dashboard.js')).status, 200);
    assert.equal((await request(app).get('/admin/otp/charts.js')).status, 200);
    assert.equal((await request(app).get('/admin/otp/dashboard.css')).status, 200);
    assert.equal((await request(app).get('/admin/otp')).status, 301);
    // The demo page and the OTP routes are unchanged.
    assert.equal((await request(app).get('/')).status, 200);
    assert.equal((await request(app).post('/otp/sms').send({ phone: '+359871234568' })).status, 202);
  });

  it('mounts nothing without OTP_ADMIN_TOKEN, and refuses a short token', async () => {
    const kit = await createTestKit(db());
    const app = createExampleApp(kit.otp, {});
    for (const path of ['/', ...DATA]) assert.equal((await request(app).get(`/admin/otp${path}`).set('Authorization', `Bearer ${TOKEN}`)).status, 404, path);
    assert.throws(() => createExampleApp(kit.otp, { OTP_ADMIN_TOKEN: 'short' }), /at least 16 characters/);
    assert.throws(() => requireAdminToken(''), /OTP_ADMIN_TOKEN/);
  });
});
