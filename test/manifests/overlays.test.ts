/**
 * Every install the manifests offer, rendered with `kubectl kustomize`, holds every invariant in
 * invariants.ts; and every invariant reports a problem when a rendered install is edited to break it,
 * so none of these checks can pass vacuously.
 */
import t from 'tap';
import { INVARIANTS, type Install } from './invariants.js';
import { INSTALL_SPECS, loadInstall } from './installs.js';

for (const spec of INSTALL_SPECS) {
  t.test(spec.name, async (t) => {
    const install = loadInstall(spec);
    for (const invariant of INVARIANTS) {
      if (invariant.appliesTo && !invariant.appliesTo(install)) continue;
      t.same(invariant.check(install), [], invariant.name);
    }
  });
}

t.test('each check fails when an install is edited to break it', async (t) => {
  const installs = INSTALL_SPECS.map(loadInstall);
  for (const invariant of INVARIANTS) {
    t.ok(invariant.breaks.length > 0, `"${invariant.name}" has edits that break it`);
    for (const [what, edit, on] of invariant.breaks) {
      const target = installs.find((i) => (!invariant.appliesTo || invariant.appliesTo(i)) && (!on || on(i)));
      if (!target) {
        t.fail(`no install to try "${invariant.name}" — ${what} on`);
        continue;
      }
      // One structuredClone of both lists keeps them the same array when they are (in-cluster installs).
      const copy = structuredClone(target) as Install;
      edit(copy);
      const problems = invariant.check(copy);
      t.ok(problems.length > 0, `${invariant.name} — broken by: ${what} (${target.name})`, { problems });
    }
  }
});
