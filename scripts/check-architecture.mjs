#!/usr/bin/env node
/**
 * The architecture rules of lib/, checked on every `npm run lint` (and by test/architecture.test.ts):
 * - no import cycle among lib/ files (type-only imports count: a reader follows them too);
 * - no lib/ file over 300 lines;
 * - layers import downwards only (see LAYERS), so delivery sits below service/ and worker/;
 * - SQL and Knex calls live in lib/storage/ only.
 * Usage: node scripts/check-architecture.mjs [dir]   (exit 1 and a list of problems when one fails)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAX_LINES = 300;

/** Folder → folders it must not import from (lib/*.ts at the top are shared leaves and the barrel). */
export const LAYERS = {
  core: ['storage', 'limits', 'delivery', 'service', 'worker', 'http', 'observability', 'providers', 'webhooks', 'cli'],
  storage: ['limits', 'delivery', 'service', 'worker', 'http', 'observability', 'providers', 'webhooks', 'cli'],
  providers: ['storage', 'limits', 'delivery', 'service', 'worker', 'http', 'observability', 'webhooks', 'cli'],
  webhooks: ['limits', 'delivery', 'service', 'worker', 'http', 'observability', 'providers', 'cli'],
  limits: ['delivery', 'service', 'worker', 'http', 'observability', 'providers', 'cli'],
  delivery: ['limits', 'service', 'worker', 'http', 'observability', 'cli'],
  worker: ['limits', 'service', 'http', 'observability', 'cli'],
  service: ['http', 'observability', 'cli'],
  http: ['cli'],
  observability: ['cli'],
};

const SQL_CALL = /\bknex\s*\(|\.raw\s*\(|\bknex\.schema\b|\bknex\s*\.\s*(transaction|select|insert|update|delete|from)\s*\(/;
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.[^'"]+)['"]/g;

function filesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else if (path.endsWith('.ts')) out.push(path);
  }
  return out;
}

const folderOf = (root, file) => {
  const parts = relative(root, file).split(sep);
  return parts.length > 1 ? parts[0] : '';
};

/** Problems found under `root` (a lib/ directory), one line each. */
export function checkArchitecture(root) {
  const problems = [];
  const files = filesUnder(root);
  const graph = new Map();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    const name = relative(root, file);
    if (lines > MAX_LINES) problems.push(`${name}: ${lines} lines (at most ${MAX_LINES})`);
    const from = folderOf(root, file);
    if (from !== 'storage' && SQL_CALL.test(text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''))) problems.push(`${name}: runs SQL or Knex outside lib/storage/`);
    const targets = [];
    for (const match of text.matchAll(IMPORT)) {
      const target = resolve(dirname(file), match[1].replace(/\.js$/, '.ts'));
      targets.push(target);
      const to = folderOf(root, target);
      if ((LAYERS[from] ?? []).includes(to)) problems.push(`${name}: ${from}/ must not import ${to}/ (${relative(root, target)})`);
    }
    graph.set(file, targets);
  }
  // Cycles: depth-first search with colours; each cycle is reported once by its path.
  const state = new Map();
  const stack = [];
  const visit = (file) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') {
        const cycle = stack.slice(stack.indexOf(next)).concat(next).map((f) => relative(root, f));
        problems.push(`import cycle: ${cycle.join(' -> ')}`);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return problems;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'lib'));
  const problems = checkArchitecture(root);
  if (problems.length > 0) {
    console.error(`architecture check failed (${problems.length}):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`architecture check: ${relative(process.cwd(), root) || root} has no import cycle, no file over ${MAX_LINES} lines, layers import downwards, SQL only in storage/`);
}
