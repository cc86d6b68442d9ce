/**
 * `tsx bench/http-micro.ts`: CPU per call of the HTTP layer's pieces, old way against new, in one
 * process (steadier than whole-server figures on a busy machine). Validation: Joi against the
 * compiled fast path (lib/http/body-check.ts). Answers: `res.status().json()` against `sendJson`
 * (lib/http/respond.ts) in an Express app with its default settings (ETag on), and reading `req.ip`
 * behind `trust proxy` once against twice, over loopback HTTP with autocannon in this process (its
 * share is the same for both routes, so the difference is the server's). Alternating chunks;
 * medians printed.
 *
 * Environment: MICRO_CHUNKS (6), MICRO_REQUESTS (4000 a chunk).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import express, { type Request, type Response } from 'express';
import { bodyShape, fastAccepts } from '../lib/http/body-check.js';
import { sendJson } from '../lib/http/respond.js';
import { sendBodySchema, verifyBodySchema } from '../lib/http/schemas.js';

const CHUNKS = Number(process.env.MICRO_CHUNKS ?? 6);
const REQUESTS = Number(process.env.MICRO_REQUESTS ?? 4000);

const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

function cpuUs(run: () => void, times: number): number {
  const before = process.cpuUsage();
  for (let i = 0; i < times; i += 1) run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / times;
}

function validation(): void {
  const send = bodyShape(sendBodySchema);
  const verify = bodyShape(verifyBodySchema(6));
  const bodies = { send: { phone: '+359871234567' }, verify: { phone: '+359871234567', code: '123456' } };
  for (const [name, shape] of [['send', send], ['verify', verify]] as const) {
    const body = bodies[name];
    const joi: number[] = [];
    const fast: number[] = [];
    for (let c = 0; c < CHUNKS * 2; c += 1) {
      joi.push(cpuUs(() => shape.schema.validate(body), 20_000));
      fast.push(cpuUs(() => fastAccepts(shape.fast!, body), 20_000));
    }
    console.log(`| validate ${name} body | Joi ${median(joi).toFixed(2)} µs | fast path ${median(fast).toFixed(2)} µs |`);
  }
}

const answer = { requestId: '0193a6c2-8d1e-7c3b-9a4f-2b6d8e0f1a2c', channel: 'sms', status: 'sent', expiresAt: '2026-12-07T03:00:00.000Z' };

function oldAnswer(req: Request, res: Response): void {
  const options = { ...(req.ip === undefined ? {} : { ip: req.ip }) };
  res.setHeader('Cache-Control', 'no-store');
  res.status(202).json({ ...answer, seen: options.ip === undefined ? 0 : 1 });
}

function newAnswer(req: Request, res: Response): void {
  const { ip } = req;
  const options = { ...(ip === undefined ? {} : { ip }) };
  res.setHeader('Cache-Control', 'no-store');
  sendJson(res, 202, { ...answer, seen: options.ip === undefined ? 0 : 1 });
}

async function answers(): Promise<void> {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(express.json());
  app.post('/old', oldAnswer);
  app.post('/new', newAnswer);
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const chunk = async (path: string): Promise<number> => {
    const before = process.cpuUsage();
    const result = await autocannon({ url: `http://127.0.0.1:${port}${path}`, connections: 16, amount: REQUESTS, method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.18.0.7' }, body: '{"phone":"+359871234567"}' });
    const used = process.cpuUsage(before);
    return (used.user + used.system) / Math.max(1, result.requests.total);
  };
  await chunk('/old');
  await chunk('/new');
  const old: number[] = [];
  const fresh: number[] = [];
  for (let c = 0; c < CHUNKS; c += 1) {
    if (c % 2 === 0) {
      old.push(await chunk('/old'));
      fresh.push(await chunk('/new'));
    } else {
      fresh.push(await chunk('/new'));
      old.push(await chunk('/old'));
    }
  }
  server.close();
  console.log(`| answer + req.ip, per request (server and autocannon in one process) | res.json, req.ip twice ${median(old).toFixed(1)} µs | sendJson, req.ip once ${median(fresh).toFixed(1)} µs |`);
}

validation();
await answers();
