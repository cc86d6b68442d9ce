/**
 * A loopback fake of Twilio Verify v2 for tests: a real HTTP server on 127.0.0.1 that the real
 * `twilio` SDK talks to (through the provider's `baseUrl`). It checks method, path, Basic auth,
 * content type and form fields like Twilio does, generates a code per verification (read it with
 * `codeFor(phone)`: "reading the SMS"), and can be told to fail, stall or answer garbage.
 * Answers follow Twilio's OpenAPI spec (twilio-oai `twilio_verify_v2.json`) and error pages
 * (twilio.com/docs/api/errors/<code>): SIDs are `VE` + 32 hex; `valid` may be a boolean, null or
 * absent; a sixth check answers 429/60202 and a sixth send 429/60203, and either locks the number:
 * new verifications for it are refused (429, same code) until the verification expires (10 min).
 * Wire format: ../shared/design/providers.md, section 1; the mapping table: docs/providers.md.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TwilioFake, TwilioFakeBehaviour, TwilioFakeOp, TwilioFakeOptions, TwilioFakeRequest, TwilioFakeValidField, TwilioFakeVerification } from './twilio-fake-types.js';

export type * from './twilio-fake-types.js';

export const FAKE_ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
export const FAKE_AUTH_TOKEN = 'fake-auth-token-0123456789';
export const FAKE_SERVICE_SID = `VA${'b2'.repeat(16)}`;

const OK: TwilioFakeBehaviour = { type: 'ok' };
const CHANNELS = new Set(['sms', 'call', 'email', 'whatsapp', 'sna']);
const E164 = /^\+[1-9]\d{6,14}$/;
/** Verify's supported `Locale` values (twilio.com/docs/verify/supported-languages); any other is 60200. */
const LOCALES = new Set('af ar ca cs da de el en en-GB es et fi fr he hi hr hu id it ja ko lt ms nb nl pl pt pt-BR ro ru sv th tl tr uk vi zh zh-CN zh-HK'.split(' '));
const PATH = /^\/v2\/Services\/([^/]+)\/(Verifications|VerificationCheck)$/;

function sid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

export async function startTwilioFake(options: TwilioFakeOptions = {}): Promise<TwilioFake> {
  const accountSid = options.accountSid ?? FAKE_ACCOUNT_SID;
  const authToken = options.authToken ?? FAKE_AUTH_TOKEN;
  const serviceSid = options.serviceSid ?? FAKE_SERVICE_SID;
  const codeLength = options.codeLength ?? 6;
  const maxChecks = options.maxChecks ?? 5;
  const maxSends = options.maxSends ?? 5;
  const ttlMs = options.ttlMs ?? 600_000;
  const clock = options.clock ?? Date.now;
  let validField: TwilioFakeValidField = options.valid ?? 'boolean';
  /** Numbers refused after 60202/60203: until when, and with which code. */
  const locks = new Map<string, { until: number; code: number }>();
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;

  const requests: TwilioFakeRequest[] = [];
  const verifications: TwilioFakeVerification[] = [];
  const standing: Record<TwilioFakeOp, TwilioFakeBehaviour> = { send: OK, check: OK };
  const queued: Record<TwilioFakeOp, TwilioFakeBehaviour[]> = { send: [], check: [] };
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  let origin = '';

  const live = (to: string): TwilioFakeVerification | undefined => {
    const v = verifications.findLast((x) => x.to === to && x.status === 'pending');
    if (v !== undefined && clock() >= v.createdAt.getTime() + ttlMs) v.status = 'expired';
    return v?.status === 'pending' ? v : undefined;
  };
  const lockOf = (to: string): { until: number; code: number } | undefined => {
    const lock = locks.get(to);
    if (lock !== undefined && clock() >= lock.until) locks.delete(to);
    return locks.get(to);
  };

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, code: number, message: string, retryAfter?: string): void => {
    if (retryAfter !== undefined) res.setHeader('Retry-After', retryAfter);
    json(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
  };
  const validOf = (v: TwilioFakeVerification): Record<string, unknown> =>
    validField === 'absent' ? {} : { valid: validField === 'null' ? null : v.status === 'approved' };

  const resource = (v: TwilioFakeVerification, check: boolean): Record<string, unknown> => {
    const now = new Date().toISOString();
    const common = {
      sid: v.sid,
      service_sid: serviceSid,
      account_sid: accountSid,
      to: v.to,
      channel: v.channel,
      status: v.status,
      ...validOf(v),
      amount: null,
      payee: null,
      date_created: v.createdAt.toISOString(),
      date_updated: now,
    };
    if (check) return { ...common, sna_attempts_error_codes: [] };
    return {
      ...common,
      lookup: { carrier: null },
      send_code_attempts: [{ attempt_sid: sid('VL'), channel: v.channel, time: now }],
      sna: null,
      url: `https://verify.twilio.com/v2/Services/${serviceSid}/Verifications/${v.sid}`,
    };
  };

  const handleSend = (res: ServerResponse, form: Record<string, string>): void => {
    const to = form.To;
    const channel = form.Channel;
    if (to === undefined) return error(res, 400, 60200, 'Invalid parameter: To');
    if (channel === undefined) return error(res, 400, 60200, 'Invalid parameter: Channel');
    if (!E164.test(to)) return error(res, 400, 60200, `Invalid parameter \`To\`: ${to}`);
    if (!CHANNELS.has(channel)) return error(res, 400, 60200, 'Invalid parameter: Channel');
    if (form.Locale !== undefined && !LOCALES.has(form.Locale)) return error(res, 400, 60200, 'Invalid parameter: Locale');
    // The SMS Retriever hash is 11 characters and only meaningful for SMS.
    if (form.AppHash !== undefined && !/^[A-Za-z0-9+/]{11}$/.test(form.AppHash)) return error(res, 400, 60200, 'Invalid parameter: AppHash');
    const lock = lockOf(to);
    if (lock !== undefined) return error(res, 429, lock.code, lock.code === 60202 ? 'Max check attempts reached' : 'Max send attempts reached');
    let v = live(to);
    if (v !== undefined && v.sends >= maxSends) {
      locks.set(to, { until: v.createdAt.getTime() + ttlMs, code: 60203 });
      return error(res, 429, 60203, 'Max send attempts reached');
    }
    if (v === undefined) {
      const code = String(randomInt(0, 10 ** codeLength)).padStart(codeLength, '0');
      v = { sid: sid('VE'), to, channel, code, status: 'pending', checks: 0, sends: 0, createdAt: new Date(clock()) };
      verifications.push(v);
    }
    // Like Twilio, a new send to a number with a pending verification resends the same code.
    v.sends += 1;
    v.channel = channel;
    json(res, 201, resource(v, false));
  };

  const handleCheck = (res: ServerResponse, form: Record<string, string>): void => {
    const code = form.Code;
    if (code === undefined || !/^[0-9A-Za-z]{4,10}$/.test(code)) return error(res, 400, 60200, 'Invalid parameter: Code');
    let v: TwilioFakeVerification | undefined;
    if (form.VerificationSid !== undefined) v = verifications.find((x) => x.sid === form.VerificationSid && x.status === 'pending');
    else if (form.To !== undefined) v = live(form.To);
    else return error(res, 400, 60200, 'Missing required parameter To or VerificationSid');
    if (v === undefined) return error(res, 404, 20404, `The requested resource /Services/${serviceSid}/VerificationCheck was not found`);
    if (v.checks >= maxChecks) {
      // "wait until the current verification expires (10 minutes) to create a new verification"
      v.status = 'max_attempts_reached';
      locks.set(v.to, { until: v.createdAt.getTime() + ttlMs, code: 60202 });
      return error(res, 429, 60202, 'Max check attempts reached');
    }
    v.checks += 1;
    if (code === v.code) v.status = 'approved';
    json(res, 200, resource(v, true));
  };

  const answer = (res: ServerResponse, op: TwilioFakeOp, form: Record<string, string>, behaviour: TwilioFakeBehaviour): void => {
    switch (behaviour.type) {
      case 'hang':
        return;
      case 'error':
        return error(res, behaviour.status, behaviour.code, behaviour.message ?? `Fake error ${behaviour.code}`, behaviour.retryAfter);
      case 'raw':
        res.writeHead(behaviour.status, { 'Content-Type': behaviour.contentType ?? 'text/html' });
        res.end(behaviour.body);
        return;
      case 'ok':
        return op === 'send' ? handleSend(res, form) : handleCheck(res, form);
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse, rawBody: string): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const match = PATH.exec(path);
    const op: TwilioFakeOp | 'unknown' = match === null ? 'unknown' : match[2] === 'Verifications' ? 'send' : 'check';
    const form = Object.fromEntries(new URLSearchParams(rawBody));
    const record: TwilioFakeRequest = { op, method: req.method ?? '', path, headers: req.headers, rawBody, form, aborted: false };
    requests.push(record);
    for (const wake of waiters) wake();
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });

    if (req.headers.authorization !== expectedAuth) return error(res, 401, 20003, 'Authenticate');
    if (match === null || match[1] !== serviceSid || op === 'unknown') return error(res, 404, 20404, `The requested resource ${path} was not found`);
    if (req.method !== 'POST') return error(res, 405, 20004, 'Method not allowed');
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return error(res, 400, 60200, 'Invalid parameter: Content-Type must be application/x-www-form-urlencoded');
    }

    const behaviour = queued[op].shift() ?? standing[op];
    const delayMs = behaviour.type === 'hang' ? 0 : (behaviour.delayMs ?? 0);
    if (delayMs <= 0) return answer(res, op, form, behaviour);
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!res.destroyed) answer(res, op, form, behaviour);
    }, delayMs);
    timers.add(timer);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const ops = (op: TwilioFakeOp | undefined): TwilioFakeOp[] => (op === undefined ? ['send', 'check'] : [op]);

  return {
    url: origin,
    accountSid,
    authToken,
    serviceSid,
    requests,
    verifications,
    setBehaviour(behaviour, op) {
      for (const o of ops(op)) standing[o] = behaviour;
    },
    queueBehaviour(behaviour, op) {
      for (const o of ops(op)) queued[o].push(behaviour);
    },
    codeFor(phone) {
      return live(phone)?.code;
    },
    expire(phone) {
      const v = live(phone);
      if (v !== undefined) v.status = 'expired';
      locks.delete(phone);
    },
    setValidField(mode) {
      validField = mode;
    },
    lockedFor(phone) {
      const lock = lockOf(phone);
      return lock === undefined ? 0 : lock.until - clock();
    },
    waitForRequests(count, timeoutMs = 2000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (requests.length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`twilio fake: ${requests.length} of ${count} requests after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    reset() {
      requests.length = 0;
      verifications.length = 0;
      locks.clear();
      validField = options.valid ?? 'boolean';
      standing.send = OK;
      standing.check = OK;
      queued.send.length = 0;
      queued.check.length = 0;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
