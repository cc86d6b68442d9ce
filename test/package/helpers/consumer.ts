/**
 * Shared by the package tests: pack the kit as npm would publish it, run commands in throwaway
 * consumer projects with a clean environment, and start a consumer's app as a child process.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export function npmMissing(): string | undefined {
  try {
    execFileSync('npm', ['--version'], { stdio: 'pipe', timeout: 30_000 });
    return undefined;
  } catch (error) {
    return `npm is not available (${error instanceof Error ? error.message : String(error)})`;
  }
}

/** The environment without npm_* variables of an outer `npm test`, which npm would read as config. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key) && key !== 'NODE_OPTIONS') env[key] = value;
  return { ...env, NODE_ENV: 'test', ...extra };
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  /** The exit code (0 unless `allowFailure`). */
  readonly code: number;
}

export function run(
  command: string,
  args: readonly string[],
  cwd: string,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = cleanEnv(),
  allowFailure = false,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, env, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      if (error !== null && (!allowFailure || code === -1)) {
        reject(new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${error.message}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
        return;
      }
      resolve({ stdout, stderr, code });
    });
  });
}

/** The last line of a script's stdout, as JSON. */
export function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
}

export interface Packed {
  readonly tarball: string;
  readonly files: readonly string[];
}

/** `npm pack` into `dir` (its prepack script builds dist/). */
export async function packKit(dir: string): Promise<Packed> {
  const pack = await run('npm', ['pack', '--json', '--pack-destination', dir], ROOT, 300_000);
  const packed = (JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[])[0];
  assert.ok(packed !== undefined, `npm pack printed no result: ${pack.stdout}`);
  return { tarball: join(dir, packed.filename), files: packed.files.map((f) => f.path).sort() };
}

/** The version of a package in the repo's lock file, so consumers install what the repo tests. */
export function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const version = lock.packages[`node_modules/${name}`]?.version;
  assert.ok(version !== undefined, `${name} is in package-lock.json`);
  return version;
}

/** Installed packages (directories with a package.json) and the size of node_modules in MB. */
export function footprint(nodeModules: string): { packages: number; megabytes: number } {
  let packages = 0;
  let bytes = 0;
  const walk = (dir: string, depth: number): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.isDirectory()) {
        if (depth === 0 && name.startsWith('@')) walk(path, 0);
        else {
          if (depth === 0 && name !== '.bin') packages += 1;
          walk(path, depth === 0 && name === 'node_modules' ? 0 : depth + 1);
        }
      } else bytes += st.size;
    }
  };
  walk(nodeModules, 0);
  return { packages, megabytes: Math.round((bytes / 1024 / 1024) * 10) / 10 };
}

export interface StartedApp {
  readonly base: string;
  /** What the app printed when it listened. */
  readonly info: Record<string, unknown>;
  stop(): Promise<string>;
}

/** Starts `node <script>` in `cwd`; the script prints one JSON line with `port` once it listens. */
export function startApp(cwd: string, script: string, env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<StartedApp> {
  const child = spawn(process.execPath, [script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let listening = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not listen within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!listening) reject(new Error(`${script} exited with ${String(code)} before listening\n${stdout}\n${stderr}`));
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined || listening) return;
      listening = true;
      clearTimeout(timer);
      const info = JSON.parse(line) as Record<string, unknown>;
      resolve({
        base: `http://127.0.0.1:${String(info.port)}`,
        info,
        async stop() {
          child.kill('SIGTERM');
          await exited;
          return stderr;
        },
      });
    });
  });
}
