// Build steps around tsup. `node scripts/dist.mjs clean` empties dist/ first (tsup builds the ES
// and CommonJS outputs as two configurations, and neither may clean while the other writes);
// `node scripts/dist.mjs cts` copies the declarations to dist/index.d.cts for `require` consumers
// (the same text: a .cts consumer under node16 cannot load an ES-module declaration).
import { copyFileSync, rmSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url);
const step = process.argv[2];
if (step === 'clean') rmSync(dist, { recursive: true, force: true });
else if (step === 'cts') copyFileSync(new URL('index.d.ts', dist), new URL('index.d.cts', dist));
else {
  console.error('usage: node scripts/dist.mjs clean|cts');
  process.exit(2);
}
