import { startChild, memoryOf, sleep } from './common.js';
import { createOtp, knexFromUrl } from '../lib/index.js';
import { fork } from 'node:child_process';
const admin = knexFromUrl('mysql://root@127.0.0.1:3306/test');
await admin.raw('CREATE DATABASE IF NOT EXISTS otp_probe');
await admin.destroy();
const url = 'mysql://root@127.0.0.1:3306/otp_probe';
const k = knexFromUrl(url); const o = createOtp({ db: k, secret: 'x'.repeat(32) }); await o.migrate(); await k.destroy();
for (const file of ['bench/floor-app.ts', 'bench/kit-app.ts']) {
  const c = await startChild(file, { DATABASE_URL: url, BENCH_SECRET: 'x'.repeat(32), NODE_ENV: 'production' });
  await sleep(500);
  console.log(file, 'tsx', (memoryOf(c.pid).rssKb / 1024).toFixed(1));
  await c.exit();
}
for (const file of ['bench/.build-floor-app.mjs', 'examples/.build-kit-app.mjs']) {
  const child = fork(file, [], { execArgv: [], env: { ...process.env, DATABASE_URL: url, BENCH_SECRET: 'x'.repeat(32), NODE_ENV: 'production' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve) => child.on('message', () => resolve()));
  await sleep(500);
  console.log(file, 'plain node', (memoryOf(child.pid ?? 0).rssKb / 1024).toFixed(1));
  child.kill();
}
