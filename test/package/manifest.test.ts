/**
 * package.json as a library's: ranges rather than exact pins (a consumer's tree gets one shared
 * copy), the metadata npm shows (repository, homepage, bugs, keywords), and every docs/ page the
 * README links to shipped in the package. Reads the source tree; `pack.test.ts` checks the tarball.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { it } from 'node:test';

const ROOT = new URL('../../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  bin?: Record<string, string>;
  files: string[];
  repository?: { url?: string };
  homepage?: string;
  bugs?: { url?: string };
  keywords?: string[];
};

it('dependencies take ranges; the exceptions are bounded on purpose', () => {
  for (const [name, spec] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies })) {
    if (name === '@sinch/sdk-core') continue;
    assert.match(spec, /^[\^~]/, `${name}@${spec} is a range`);
  }
  // 1.4.1, 1.4.3 and 1.5.0 depend on @sinch/* sub-packages of their own version that were never published.
  assert.equal(pkg.peerDependencies['@sinch/sdk-core'], '1.4.0');
  assert.equal(pkg.devDependencies['@sinch/sdk-core'], '1.4.0');
  // better-sqlite3 13 needs Node 22 (it crashes on 20); TypeScript minors change checking.
  assert.match(pkg.devDependencies['better-sqlite3'] ?? '', /^\^12\./);
  assert.match(pkg.devDependencies.typescript ?? '', /^~5\.9\./);
});

it('Express 4.17+ and 5 are peers; the provider SDKs and prom-client are optional peers the repo tests with', () => {
  assert.equal(pkg.peerDependencies.express, '^4.17.0 || ^5.0.0');
  // prom-client only serves otpMetrics (loaded on its first call), so apps without metrics skip it.
  for (const sdk of ['twilio', '@sinch/sdk-core', 'prom-client']) {
    assert.equal(pkg.dependencies[sdk], undefined, `${sdk} is not a dependency: apps install it only when they route to it`);
    assert.ok(pkg.peerDependencies[sdk] !== undefined, `${sdk} is a peer`);
    assert.equal(pkg.peerDependenciesMeta[sdk]?.optional, true, `${sdk} is optional`);
    assert.equal(pkg.devDependencies[sdk], pkg.peerDependencies[sdk], `${sdk} is a devDependency of the same range, so the tests drive the real SDK`);
  }
  assert.deepEqual(pkg.bin, { 'express-otp-kit': './dist/cli.js' });
});

it('has the metadata npm shows and ships the docs the README links to', () => {
  assert.match(pkg.repository?.url ?? '', /^git\+https:\/\//);
  assert.match(pkg.homepage ?? '', /^https:\/\//);
  assert.match(pkg.bugs?.url ?? '', /^https:\/\//);
  assert.ok((pkg.keywords ?? []).includes('otp'));
  assert.ok(pkg.files.includes('docs'));
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
  const links = [...readme.matchAll(/\]\(((?!https?:|#)[^)#\s]+)/g)].map((m) => m[1] ?? '');
  assert.ok(links.length > 0);
  for (const link of links) {
    assert.ok(existsSync(new URL(link, ROOT)), `${link} exists`);
    assert.ok(pkg.files.some((entry) => link === entry || link.startsWith(`${entry}/`)), `${link}, linked from the README, is in "files"`);
  }
});
