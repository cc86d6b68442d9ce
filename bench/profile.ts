/**
 * Summary of a V8 CPU profile (`node --cpu-prof`) over the load windows only: where the server's
 * CPU time went, by package (self and inclusive) and by function (self).
 */
import { BUILD_DIR } from './compiled.js';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface Share {
  readonly name: string;
  /** Percent of the busy (non-idle) samples in the window. */
  readonly percent: number;
}

export interface WindowSummary {
  readonly seconds: number;
  /** Percent of the window the main thread was busy (not idle). */
  readonly busyPercent: number;
  readonly selfByPackage: readonly Share[];
  readonly inclusiveByPackage: readonly Share[];
  readonly topFunctions: readonly Share[];
}

export interface ProfileSummary {
  readonly send: WindowSummary;
  readonly verify: WindowSummary;
}

const root = new URL('..', import.meta.url).href;
/** The benchmark's own frames (the statement counter wraps every driver call); left out of "inclusive". */
const HARNESS = 'bench harness';

/** The package (or area of this repository) a script belongs to. */
export function packageOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return '(garbage collector)';
    if (functionName === '(program)' || functionName === '(idle)' || functionName === '(root)') return functionName;
    return '(native)';
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return (parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : parts[0]) ?? url;
  }
  if (url.startsWith('node:')) return 'node (core)';
  if (url.startsWith(root)) {
    // The apps run compiled (bench/compiled.ts): name their frames by the source file.
    let rel = url.slice(root.length);
    if (rel.startsWith(`${BUILD_DIR}/`)) rel = rel.slice(BUILD_DIR.length + 1).replace(/\.js$/, '.ts');
    if (rel.startsWith('lib/')) return `kit ${rel}`;
    if (rel.startsWith('bench/')) return HARNESS;
    return rel.split('/')[0] ?? rel;
  }
  return url;
}

function isProfile(value: unknown): value is CpuProfile {
  const p = value as Partial<CpuProfile> | null;
  return typeof p === 'object' && p !== null && Array.isArray(p.nodes) && Array.isArray(p.samples) && Array.isArray(p.timeDeltas) && typeof p.startTime === 'number';
}

function top(map: Map<string, number>, total: number, n: number): Share[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, count]) => ({ name, percent: (100 * count) / Math.max(1, total) }));
}

function summariseWindow(profile: CpuProfile, byId: Map<number, ProfileNode>, parent: Map<number, number>, from: number, to: number, functionCount: number): WindowSummary {
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const functions = new Map<string, number>();
  let time = profile.startTime;
  let inWindow = 0;
  let busy = 0;
  for (let k = 0; k < profile.samples.length; k += 1) {
    time += profile.timeDeltas[k] ?? 0;
    if (time < from || time > to) continue;
    inWindow += 1;
    const leaf = byId.get(profile.samples[k] ?? -1);
    if (leaf === undefined || leaf.callFrame.functionName === '(idle)') continue;
    busy += 1;
    const pkg = packageOf(leaf.callFrame);
    self.set(pkg, (self.get(pkg) ?? 0) + 1);
    const fn = `${leaf.callFrame.functionName || '(anonymous)'} (${pkg}${leaf.callFrame.url === '' ? '' : `:${leaf.callFrame.lineNumber + 1}`})`;
    functions.set(fn, (functions.get(fn) ?? 0) + 1);
    const onStack = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id);
      if (node !== undefined) onStack.add(packageOf(node.callFrame));
    }
    onStack.delete(HARNESS);
    for (const name of onStack) inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
  }
  inclusive.delete('(root)');
  return {
    seconds: (to - from) / 1e6,
    busyPercent: (100 * busy) / Math.max(1, inWindow),
    selfByPackage: top(self, busy, 12),
    inclusiveByPackage: top(inclusive, busy, 12),
    topFunctions: top(functions, busy, functionCount),
  };
}

/** Windows are [start, end] in microseconds of the profiled process's monotonic clock. */
export function summariseProfile(value: unknown, windows: { readonly send: readonly [number, number]; readonly verify: readonly [number, number] }, functionCount = 15): ProfileSummary {
  if (!isProfile(value)) throw new Error('not a V8 CPU profile');
  const byId = new Map(value.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of value.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  return {
    send: summariseWindow(value, byId, parent, windows.send[0], windows.send[1], functionCount),
    verify: summariseWindow(value, byId, parent, windows.verify[0], windows.verify[1], functionCount),
  };
}
