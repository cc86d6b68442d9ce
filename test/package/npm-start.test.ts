/**
 * `npm start` as a container runs it: SIGTERM (or SIGINT) to the npm process must stop the example
 * server too, not just npm. npm forwards the signal to the script's shell; the start script
 * `exec`s one Node process (`node --import tsx`, no tsx wrapper process) in the shell's place, so
 * the signal reaches the example, which closes the server, the poller and the database. The test starts it on a free port, signals npm and checks that the port
 * is free again within 5 s.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanEnv, npmMissing, ROOT } from './helpers/consumer.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** True when nothing accepts connections on the port any more. */
function portClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function closedWithin(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await portClosed(port)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return portClosed(port);
}

const work = mkdtempSync(join(tmpdir(), 'otp-start-'));
after(() => rmSync(work, { recursive: true, force: true }));

void describe('npm start stops on a signal', { skip: npmMissing() ?? false, timeout: 120_000 }, () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to npm frees the port within 5 s`, async () => {
      const port = await freePort();
      const env = cleanEnv({ PORT: String(port), DATABASE_URL: `sqlite:${join(work, `${signal}.sqlite`)}`, NODE_ENV: 'development' });
      delete env.OTP_SMS_PROVIDER;
      // detached: a process group of its own, so the cleanup below can end whatever npm left behind.
      const npm = spawn('npm', ['start', '--silent'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let output = '';
      npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`npm start did not listen within 60 s:\n${output}`)), 60_000);
          npm.stdout.on('data', () => {
            if (output.includes(`listening on http://localhost:${port}`)) {
              clearTimeout(timer);
              resolve();
            }
          });
          npm.once('exit', (code) => reject(new Error(`npm start exited (${code}) before listening:\n${output}`)));
        });
        assert.equal(await portClosed(port), false, 'the example listens');
        npm.kill(signal);
        assert.equal(await closedWithin(port, 5_000), true, `the port is free within 5 s of ${signal}:\n${output}`);
        assert.match(output, new RegExp(`${signal}: shutting down`));
      } finally {
        try {
          if (npm.pid !== undefined) process.kill(-npm.pid, 'SIGKILL');
        } catch {
          // the group has already exited
        }
      }
    });
  }
});
