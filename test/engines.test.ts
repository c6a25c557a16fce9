/**
 * package.json `engines.node` says what the installed dependencies really require: every direct
 * dependency's own `engines.node` accepts the lowest release of each line we claim (so `npm ci
 * --engine-strict` passes there), and the floor is not arbitrary (some dependency refuses the release
 * just below it). The running Node.js is inside the range.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const semver = require('semver') as { satisfies(version: string, range: string): boolean };
const REPO = fileURLToPath(new URL('../', import.meta.url));
interface Pkg { engines?: { node?: string }; dependencies?: Record<string, string>; devDependencies?: Record<string, string> }
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Pkg;
const pkg = read(join(REPO, 'package.json'));
const ours = pkg.engines?.node ?? '';
const lowest = ['20.19.0', '22.12.0', '24.0.0'];

t.test('engines.node accepts the running Node.js and the lowest release of each supported line', async (t) => {
  t.ok(semver.satisfies(process.versions.node, ours), `${process.versions.node} satisfies ${ours}`);
  for (const v of lowest) t.ok(semver.satisfies(v, ours), `${v} satisfies ${ours}`);
  t.notOk(semver.satisfies('20.18.3', ours), 'below 20.19 is refused');
  t.notOk(semver.satisfies('22.11.0', ours), 'and 22 before 22.12 (c8)');
});

t.test("every direct dependency's engines.node accepts what we claim, and one needs the floor", async (t) => {
  const names = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
  const needsFloor: string[] = [];
  for (const name of names) {
    const range = read(join(REPO, 'node_modules', name, 'package.json')).engines?.node;
    if (range === undefined) continue;
    for (const v of lowest) t.ok(semver.satisfies(v, range), `${name} (${range}) accepts ${v}`);
    if (!semver.satisfies('20.18.3', range)) needsFloor.push(name);
  }
  t.ok(needsFloor.length > 0, `the 20.19 floor comes from ${needsFloor.join(', ')}`);
});
