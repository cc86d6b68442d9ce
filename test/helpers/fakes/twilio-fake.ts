/**
 * A loopback fake of Twilio Verify v2 for tests: a real HTTP server on 127.0.0.1 that the real
 * `twilio` SDK talks to (through the provider's `baseUrl`). It checks method, path, Basic auth,
 * content type and form fields like Twilio does, generates a code per verification (read it with
 * `codeFor(phone)`: "reading the SMS"), and can be told to fail, stall or answer garbage.
 * Wire format and error codes: ../shared/design/providers.md, section 1.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const FAKE_ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
export const FAKE_AUTH_TOKEN = 'fake-auth-token-0123456789';
export const FAKE_SERVICE_SID = `VA${'b2'.repeat(16)}`;

export type TwilioFakeOp = 'send' | 'check';

/** How the fake answers a request; `delayMs` waits before answering. */
export type TwilioFakeBehaviour =
  /** Twilio's normal logic (create verification, check the code). */
  | { readonly type: 'ok'; readonly delayMs?: number }
  /** A legacy Twilio error body `{code, message, more_info, status}` with this HTTP status. */
  | { readonly type: 'error'; readonly status: number; readonly code: number; readonly message?: string; readonly delayMs?: number }
  /** Exactly this status and body (HTML, empty, broken JSON…). */
  | { readonly type: 'raw'; readonly status: number; readonly body: string; readonly contentType?: string; readonly delayMs?: number }
  /** Never answers (until the client gives up or the fake is closed). */
  | { readonly type: 'hang' };

export interface TwilioFakeRequest {
  readonly op: TwilioFakeOp | 'unknown';
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawBody: string;
  /** The form body, parsed with URLSearchParams. */
  readonly form: Readonly<Record<string, string>>;
  /** Set when the client closed the connection before the answer was written. */
  aborted: boolean;
}

export interface TwilioFakeVerification {
  readonly sid: string;
  readonly to: string;
  channel: string;
  readonly code: string;
  status: 'pending' | 'approved' | 'canceled' | 'max_attempts_reached' | 'expired' | 'deleted' | 'failed';
  checks: number;
  sends: number;
  readonly createdAt: Date;
}

export interface TwilioFakeOptions {
  readonly accountSid?: string;
  readonly authToken?: string;
  readonly serviceSid?: string;
  /** Digits of the generated codes. @default 6 */
  readonly codeLength?: number;
  /** Wrong checks allowed before 60202 and deletion. @default 5 */
  readonly maxChecks?: number;
  /** Sends per number before 60203. @default 5 */
  readonly maxSends?: number;
}

export interface TwilioFake {
  /** Origin to pass as `baseUrl`, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly accountSid: string;
  readonly authToken: string;
  readonly serviceSid: string;
  /** Every request received, in order. */
  readonly requests: TwilioFakeRequest[];
  /** Every verification created, in order (also the dead ones). */
  readonly verifications: TwilioFakeVerification[];
  /** The behaviour for every following request of `op` (both ops when omitted). */
  setBehaviour(behaviour: TwilioFakeBehaviour, op?: TwilioFakeOp): void;
  /** A one-shot behaviour for the next request of `op`; queued ones run before the standing behaviour. */
  queueBehaviour(behaviour: TwilioFakeBehaviour, op?: TwilioFakeOp): void;
  /** The code of the live verification of `phone` (what the SMS or call said), if any. */
  codeFor(phone: string): string | undefined;
  /** Makes the live verification of `phone` expire, as after Twilio's 10 minutes. */
  expire(phone: string): void;
  /** Resolves once `count` requests were received (or rejects after `timeoutMs`). */
  waitForRequests(count: number, timeoutMs?: number): Promise<void>;
  /** Forgets requests, verifications and behaviours. */
  reset(): void;
  close(): Promise<void>;
}

const OK: TwilioFakeBehaviour = { type: 'ok' };
const CHANNELS = new Set(['sms', 'call', 'email', 'whatsapp', 'sna']);
const E164 = /^\+[1-9]\d{6,14}$/;
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
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;

  const requests: TwilioFakeRequest[] = [];
  const verifications: TwilioFakeVerification[] = [];
  const standing: Record<TwilioFakeOp, TwilioFakeBehaviour> = { send: OK, check: OK };
  const queued: Record<TwilioFakeOp, TwilioFakeBehaviour[]> = { send: [], check: [] };
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  let origin = '';

  const live = (to: string): TwilioFakeVerification | undefined => verifications.findLast((v) => v.to === to && v.status === 'pending');

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, code: number, message: string): void => {
    json(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
  };

  const resource = (v: TwilioFakeVerification, check: boolean): Record<string, unknown> => {
    const now = new Date().toISOString();
    const common = {
      sid: v.sid,
      service_sid: serviceSid,
      account_sid: accountSid,
      to: v.to,
      channel: v.channel,
      status: v.status,
      valid: v.status === 'approved',
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
    let v = live(to);
    if (v !== undefined && v.sends >= maxSends) return error(res, 429, 60203, 'Max send attempts reached');
    if (v === undefined) {
      const code = String(randomInt(0, 10 ** codeLength)).padStart(codeLength, '0');
      v = { sid: sid('VE'), to, channel, code, status: 'pending', checks: 0, sends: 0, createdAt: new Date() };
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
      v.status = 'max_attempts_reached';
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
        return error(res, behaviour.status, behaviour.code, behaviour.message ?? `Fake error ${behaviour.code}`);
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
