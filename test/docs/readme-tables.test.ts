/**
 * README.md and docs/*.md as a Markdown parser reads them (marked, GitHub-flavoured): every table
 * row has as many cells as its header. A row broken over two lines, or a cell with an unescaped
 * `|`, renders as a broken row; marked pads or cuts such rows to fit, so the cells are counted on
 * each table's source lines (split on unescaped pipes, as GFM does, code spans included).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { marked, type Token, type Tokens } from 'marked';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The cells of one table line: leading and trailing pipes dropped, split on pipes not escaped with `\`. */
export function cellsOf(line: string): string[] {
  const trimmed = line.trim().replace(/^\|/, '').replace(/(?<!\\)\|$/, '');
  return trimmed.split(/(?<!\\)\|/);
}

function tables(tokens: readonly Token[]): Tokens.Table[] {
  const out: Tokens.Table[] = [];
  marked.walkTokens([...tokens], (token) => {
    if (token.type === 'table') out.push(token as Tokens.Table);
  });
  return out;
}

/** "line N: has X cells, the header Y" for every row of every table in `markdown` that does not fit. */
export function brokenRows(markdown: string): string[] {
  const problems: string[] = [];
  for (const table of tables(marked.lexer(markdown, { gfm: true }))) {
    const lines = table.raw.trimEnd().split('\n');
    const start = markdown.indexOf(table.raw);
    const lineNo = markdown.slice(0, start).split('\n').length;
    const width = table.header.length;
    if (lines.length - 2 !== table.rows.length) problems.push(`line ${lineNo}: ${lines.length - 2} source rows, ${table.rows.length} rendered`);
    lines.forEach((line, i) => {
      if (i === 1) return;
      const cells = cellsOf(line).length;
      if (cells !== width) problems.push(`line ${lineNo + i}: ${cells} cells, the header has ${width}: ${line.slice(0, 80)}`);
    });
  }
  return problems;
}

const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

void describe('Markdown tables render whole', () => {
  it('finds a row split over two lines and a stray pipe', () => {
    const split = '| a | b |\n|---|---|\n| one | two,\nthree |\n';
    assert.notDeepEqual(brokenRows(split), []);
    assert.notDeepEqual(brokenRows('| a | b |\n|---|---|\n| x | y | z |\n'), []);
    assert.deepEqual(brokenRows('| a | b |\n|---|---|\n| `x \\| y` | z |\n'), []);
  });

  for (const file of files) {
    it(`${file}: every row has the header's number of cells`, () => {
      const markdown = readFileSync(join(ROOT, file), 'utf8');
      assert.ok(file !== 'README.md' || tables(marked.lexer(markdown)).length >= 6, 'the README has its tables');
      assert.deepEqual(brokenRows(markdown), []);
    });
  }
});
