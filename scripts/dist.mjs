// Build steps around tsup. `node scripts/dist.mjs clean` empties dist/ first; `node scripts/dist.mjs
// cts` writes the CommonJS entry and its declarations:
// - dist/index.cjs is one line that `require`s the ES build. Every Node the kit supports
//   (engines: ^20.19.0 || >=22.12.0) loads an ES module from require() without a flag, and the ES
//   build has no top-level await, so a second, CommonJS copy of the whole kit (it doubled the
//   tarball) buys nothing;
// - dist/index.d.cts is the declarations' text (a .cts consumer under node16 cannot load an
//   ES-module declaration).
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url);
const step = process.argv[2];
if (step === 'clean') rmSync(dist, { recursive: true, force: true });
else if (step === 'cts') {
  copyFileSync(new URL('index.d.ts', dist), new URL('index.d.cts', dist));
  writeFileSync(new URL('index.cjs', dist), "'use strict';\n// The ES build, through require(esm) (Node ^20.19 and >=22.12): see scripts/dist.mjs.\nmodule.exports = require('./index.js');\n");
} else {
  console.error('usage: node scripts/dist.mjs clean|cts');
  process.exit(2);
}
