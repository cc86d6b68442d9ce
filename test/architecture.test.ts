/** The architecture rules of lib/ (scripts/check-architecture.mjs) hold, and the check catches a breach. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
// @ts-expect-error: a plain .mjs script without type declarations
import { checkArchitecture } from '../scripts/check-architecture.mjs';

const check = checkArchitecture as (root: string) => string[];

it('lib/ has no import cycle, no file over 300 lines, downward layers and SQL only in storage/', () => {
  assert.deepEqual(check(join(import.meta.dirname, '..', 'lib')), []);
});

it('the check reports a cycle, a long file, an upward import and SQL outside storage/', () => {
  const root = mkdtempSync(join(tmpdir(), 'arch-'));
  try {
    for (const dir of ['core', 'storage', 'service']) mkdirSync(join(root, dir));
    writeFileSync(join(root, 'service', 'a.ts'), "import { b } from './b.js';\nexport const a = () => b;\n");
    writeFileSync(join(root, 'service', 'b.ts'), "import { a } from './a.js';\nexport const b = () => a;\nexport const q = (knex: any) => knex('t').select();\n");
    writeFileSync(join(root, 'core', 'up.ts'), "import { x } from '../storage/x.js';\nexport const up = x;\n");
    writeFileSync(join(root, 'storage', 'x.ts'), `export const x = 1;\n${'// line\n'.repeat(301)}`);
    const problems = check(root);
    assert.ok(problems.some((p) => p.startsWith('import cycle: service/a.ts -> service/b.ts -> service/a.ts')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('storage/x.ts: 302 lines')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('core/up.ts: core/ must not import storage/')), problems.join('\n'));
    assert.ok(problems.some((p) => p === 'service/b.ts: runs SQL or Knex outside lib/storage/'), problems.join('\n'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
