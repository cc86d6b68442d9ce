/**
 * A loopback fake of the Sinch Verification API (../shared/design/providers.md §2), driven by the
 * real `@sinch/sdk-core` over HTTP. It checks method, path, Content-Type, x-timestamp and the
 * `Application key:signature` header (with its own implementation of Sinch's documented
 * string-to-sign, sinch-signature.ts, not the SDK's validator), and the JSON body shapes.
 *
 * By default it behaves like the service: `start` generates a code per number and "delivers" it
 * (see `codeFor` / `deliveries`), `report` answers FAIL for a wrong code and SUCCESSFUL once for
 * the right one; a report for a number without a live verification answers 404 / 40400.
 * Per-operation behaviour can be overridden (errors, statuses, garbage, hangs, delays), either
 * persistently (`set`) or for the next calls only (`enqueue`).
 */
import { randomInt, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { SinchFake, SinchFakeBehaviour, SinchFakeMethod, SinchFakeOperation, SinchFakeOptions, SinchFakeRequest, SinchFakeDelivery } from './sinch-fake-types.js';
import { isSinchAuthorized, protocolRefusal } from './sinch-signature.js';

export type * from './sinch-fake-types.js';

interface LiveVerification {
  readonly id: string;
  readonly method: SinchFakeMethod;
  readonly code: string;
  expiresAt: number;
  attempts: number;
  /** Set by deny()/abort(): the next report answers this status and ends the verification. */
  ended?: { readonly status: 'DENIED' | 'ABORTED'; readonly reason?: string };
}

const ALPHABETS = { Numeric: '0123456789', Alpha: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', Alphanumeric: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789' } as const;

const START_PATH = '/verification/v1/verifications';
const REPORT_PATH = /^\/verification\/v1\/verifications\/number\/([^/?#]+)$/;
const E164 = /^\+[1-9]\d{6,14}$/;
const METHODS: readonly unknown[] = ['sms', 'callout', 'whatsapp'];
const isMethod = (value: unknown): value is SinchFakeMethod => METHODS.includes(value);
const DEFAULT_SECRET = Buffer.from('sinch-fake-application-secret').toString('base64');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export async function startSinchFake(options: SinchFakeOptions = {}): Promise<SinchFake> {
  const applicationKey = options.applicationKey ?? 'sinch-fake-app-key';
  const applicationSecret = options.applicationSecret ?? DEFAULT_SECRET;
  const codeLength = options.codeLength ?? 4;
  const alphabet = ALPHABETS[options.codeType ?? 'Numeric'];
  const ttlMs = options.ttlMs ?? 600_000;
  const maxAttempts = options.maxAttempts ?? 5;

  const requests: SinchFakeRequest[] = [];
  const problems: string[] = [];
  const deliveries: SinchFakeDelivery[] = [];
  const live = new Map<string, LiveVerification>();
  const references = new Set<string>();
  const queues: Record<SinchFakeOperation, SinchFakeBehaviour[]> = { start: [], report: [] };
  const initial = { start: options.start ?? { type: 'logic' }, report: options.report ?? { type: 'logic' }, delayMs: options.delayMs ?? 0 } as const;
  let behaviour: { start: SinchFakeBehaviour; report: SinchFakeBehaviour; delayMs: number } = { ...initial };
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const sendJson = (res: http.ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const sendError = (res: http.ServerResponse, status: number, errorCode: number, message: string, retryAfter?: string): void => {
    if (retryAfter !== undefined) res.setHeader('Retry-After', retryAfter);
    sendJson(res, status, { errorCode, message, reference: randomUUID() });
  };

  /** Answers a request with the behaviour's canned reply; returns false for 'logic'. */
  const cannedReply = (b: SinchFakeBehaviour, op: SinchFakeOperation, body: Record<string, unknown>, res: http.ServerResponse, req: http.IncomingMessage): boolean => {
    switch (b.type) {
      case 'logic':
        return false;
      case 'error':
        sendError(res, b.httpStatus, b.errorCode, b.message ?? `fake error ${b.errorCode}`, b.retryAfter);
        return true;
      case 'status':
        sendJson(res, 200, { id: randomUUID(), method: isMethod(body.method) ? body.method : 'sms', status: b.status, ...(b.reason === undefined ? {} : { reason: b.reason }) });
        return true;
      case 'json':
        sendJson(res, b.httpStatus ?? 200, b.body);
        return true;
      case 'raw':
        res.writeHead(b.httpStatus, { 'Content-Type': b.contentType ?? 'text/html', 'Content-Length': Buffer.byteLength(b.body) });
        res.end(b.body);
        return true;
      case 'hang':
        return true; // leave the response open
      case 'destroy':
        req.socket.destroy();
        return true;
      default:
        throw new Error(`sinch fake: unknown behaviour for ${op}`);
    }
  };

  const handleStart = (body: unknown, res: http.ServerResponse, acceptLanguage: string | undefined): void => {
    const identity = isRecord(body) ? body.identity : undefined;
    const method = isRecord(body) ? body.method : undefined;
    const reference = isRecord(body) ? body.reference : undefined;
    const phone = isRecord(identity) ? identity.endpoint : undefined;
    if (!isRecord(identity) || identity.type !== 'number' || typeof phone !== 'string' || !E164.test(phone)) {
      problems.push(`start: bad identity ${JSON.stringify(identity)}`);
      sendError(res, 400, 40001, 'Invalid identity');
      return;
    }
    if (!isMethod(method)) {
      problems.push(`start: bad method ${JSON.stringify(method)}`);
      sendError(res, 400, 40001, 'Invalid method');
      return;
    }
    if (reference !== undefined && typeof reference !== 'string') {
      problems.push('start: reference is not a string');
      sendError(res, 400, 40001, 'Invalid reference');
      return;
    }
    if (reference !== undefined && options.rejectDuplicateReference === true && references.has(reference)) {
      sendError(res, 409, 40900, 'Duplicate reference');
      return;
    }
    if (reference !== undefined) references.add(reference);
    const id = randomUUID();
    const code = Array.from({ length: codeLength }, () => alphabet[randomInt(alphabet.length)]).join('');
    live.set(phone, { id, method, code, expiresAt: Date.now() + ttlMs, attempts: 0 });
    // The locale Sinch would write in: SMS takes it as Accept-Language, a call as calloutOptions.speech.locale.
    const speech = isRecord(body) && isRecord(body.calloutOptions) && isRecord(body.calloutOptions.speech) ? body.calloutOptions.speech.locale : undefined;
    const locale = method === 'sms' ? acceptLanguage : typeof speech === 'string' ? speech : undefined;
    deliveries.push({ id, phone, method, code, reference, locale, at: new Date() });
    const links = [{ rel: 'status', href: `${START_PATH}/id/${id}`, method: 'GET' }];
    if (method === 'sms') sendJson(res, 200, { id, method, sms: { template: 'Your verification code is {{CODE}}', interceptionTimeout: 298 }, _links: links });
    // The documented WhatsApp answer: the code type under `whatsapp`.
    else if (method === 'whatsapp') sendJson(res, 200, { id, method, whatsapp: { codeType: options.codeType ?? 'Numeric' }, _links: links });
    else sendJson(res, 200, { id, method, _links: links });
  };

  const handleReport = (phone: string, body: unknown, res: http.ServerResponse): void => {
    const method = isRecord(body) ? body.method : undefined;
    const part = isMethod(method) && isRecord(body) ? body[method] : undefined;
    const code = isRecord(part) ? part.code : undefined;
    if (!isMethod(method) || typeof code !== 'string') {
      problems.push(`report: bad body ${JSON.stringify(body)}`);
      sendError(res, 400, 40001, 'Invalid report');
      return;
    }
    const v = live.get(phone);
    if (v === undefined) {
      sendError(res, 404, 40400, 'Verification not found');
      return;
    }
    if (v.method !== method) {
      sendError(res, 400, 40003, 'Invalid identity or code.');
      return;
    }
    const answer = (status: string, reason?: string): void =>
      sendJson(res, 200, { id: v.id, method, status, ...(reason === undefined ? {} : { reason }), ...(method === 'callout' ? { callComplete: true } : {}) });
    if (Date.now() >= v.expiresAt) {
      live.delete(phone);
      answer('FAIL', 'Expired');
      return;
    }
    if (v.ended !== undefined) {
      live.delete(phone);
      answer(v.ended.status, v.ended.reason);
      return;
    }
    if (code === v.code) {
      live.delete(phone); // SUCCESSFUL once: the verification is over
      answer('SUCCESSFUL');
      return;
    }
    v.attempts += 1;
    if (v.attempts >= maxAttempts) live.delete(phone);
    answer('FAIL', 'Invalid code');
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, rawBody: string): void => {
    const method = req.method ?? '';
    const path = req.url ?? '';
    const reportMatch = REPORT_PATH.exec(path);
    const operation: SinchFakeOperation | undefined =
      method === 'POST' && path === START_PATH ? 'start' : method === 'PUT' && reportMatch !== null ? 'report' : undefined;
    const phone = reportMatch?.[1];
    let body: unknown;
    try {
      body = rawBody === '' ? undefined : JSON.parse(rawBody);
    } catch {
      body = undefined;
    }
    const authOk = isSinchAuthorized(applicationKey, applicationSecret, { method, path, headers: req.headers, rawBody });
    requests.push({ method, path, operation, headers: req.headers, rawBody, body, ...(phone === undefined ? {} : { phone }), authOk });

    if (operation === undefined) {
      problems.push(`unexpected ${method} ${path}`);
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end(`sinch fake: no route for ${method} ${path}`);
      return;
    }
    const refusal = protocolRefusal(operation, { method, path, headers: req.headers, rawBody }, authOk, body, phone);
    if (refusal !== undefined || !isRecord(body)) {
      problems.push(refusal?.problem ?? `${operation}: body is not a JSON object`);
      sendError(res, refusal?.httpStatus ?? 400, refusal?.errorCode ?? 40001, refusal?.message ?? 'Body must be a JSON object');
      return;
    }

    const b = queues[operation].shift() ?? behaviour[operation];
    if (cannedReply(b, operation, body, res, req)) return;
    const acceptLanguage = typeof req.headers['accept-language'] === 'string' ? req.headers['accept-language'] : undefined;
    if (operation === 'start') handleStart(body, res, acceptLanguage);
    else handleReport(phone ?? '', body, res);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const run = (): void => {
        try {
          handle(req, res, rawBody);
        } catch (error) {
          problems.push(`fake crashed: ${String(error)}`);
          if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end();
        }
      };
      if (behaviour.delayMs <= 0) {
        run();
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        run();
      }, behaviour.delayMs);
      timers.add(timer);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    applicationKey,
    applicationSecret,
    requests,
    problems,
    deliveries,
    codeFor(phone) {
      const v = live.get(phone);
      return v === undefined || Date.now() >= v.expiresAt ? undefined : v.code;
    },
    expire(phone) {
      const v = live.get(phone);
      if (v !== undefined) v.expiresAt = Date.now();
    },
    deny(phone, reason = 'Fraud') {
      const v = live.get(phone);
      if (v !== undefined) v.ended = { status: 'DENIED', reason };
    },
    abort(phone) {
      const v = live.get(phone);
      if (v !== undefined) v.ended = { status: 'ABORTED' };
    },
    set(config) {
      behaviour = {
        start: config.start ?? behaviour.start,
        report: config.report ?? behaviour.report,
        delayMs: config.delayMs ?? behaviour.delayMs,
      };
    },
    enqueue(operation, ...behaviours) {
      queues[operation].push(...behaviours);
    },
    reset() {
      requests.length = 0;
      problems.length = 0;
      deliveries.length = 0;
      live.clear();
      references.clear();
      queues.start.length = 0;
      queues.report.length = 0;
      behaviour = { ...initial };
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy(); // hanging and keep-alive connections
      await closed;
    },
  };
}
