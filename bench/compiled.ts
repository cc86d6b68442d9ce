/**
 * The bench's child processes (floor, kit, peer, pollers) run as JavaScript compiled ahead of
 * time, as an app's production build runs the kit (the published package is compiled JavaScript),
 * not through tsx: a TypeScript loader in the measured process compiles ~150 of the kit's files at
 * startup and keeps their source maps, which added 29-35 MB to the kit's peak RSS against 9 MB for
 * the built package (docs/benchmarks.md, "Issue 28"), and it would weigh on the kit more than on
 * the floor's single file.
 *
 * `compiledEntry(file)` transpiles the tree the file belongs to (its `lib/`, `examples/` and
 * `bench/`, one output file per source file, so `import.meta.url`-relative reads still find their
 * neighbours) into `<root>/.bench-build/` once per process, copies the non-TypeScript files the
 * apps read (the example page, the dashboard), and answers the compiled entry's path.
 * BENCH_TSX=1 runs the sources through tsx instead, as before.
 */
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { build } from 'esbuild';

const SOURCE_DIRS = ['lib', 'examples', 'bench'] as const;
/** Files beside the sources that the apps read at runtime. */
const ASSET_DIRS = ['lib/http/public', 'examples/public'] as const;
export const BUILD_DIR = '.bench-build';

const built = new Map<string, Promise<void>>();

function typescriptFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'results' && entry.name !== BUILD_DIR) out.push(...typescriptFiles(path));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

async function compileTree(root: string): Promise<void> {
  const outdir = join(root, BUILD_DIR);
  rmSync(outdir, { recursive: true, force: true });
  const entryPoints = SOURCE_DIRS.flatMap((dir) => typescriptFiles(join(root, dir)));
  await build({ entryPoints, outdir, outbase: root, bundle: false, format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning' });
  for (const assets of ASSET_DIRS) {
    if (existsSync(join(root, assets))) cpSync(join(root, assets), join(outdir, assets), { recursive: true });
  }
}

/** The tree a bench file belongs to: the directory holding its `bench/` folder. */
function rootOf(file: string): string {
  return dirname(dirname(file));
}

/** The compiled JavaScript of `file` (a `.ts` under `<root>/bench/`), built on first use. */
export async function compiledEntry(file: string): Promise<string> {
  const root = rootOf(file);
  let done = built.get(root);
  if (done === undefined) {
    done = compileTree(root);
    built.set(root, done);
  }
  await done;
  return join(root, BUILD_DIR, relative(root, file)).replace(/\.ts$/, '.js');
}

/** Whether children run compiled (the default) or through tsx (BENCH_TSX=1). */
export const runsCompiled = (): boolean => process.env.BENCH_TSX !== '1';
