/**
 * The kustomize tree itself: every kustomization renders, every overlay is one of the tested installs,
 * `manifests/` is the in-cluster install, the Elevation CRD file older references point to is the one
 * installed, and every RBAC rule in the sources says why it is there.
 */
import t from 'tap';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import YAML, { isMap, isSeq } from 'yaml';
import { ROOT, find, render, type Obj } from './render.js';
import { INSTALL_SPECS } from './installs.js';
import { validateConfig } from '../../src/config/validate.js';

const MANIFESTS = join(ROOT, 'manifests');

/** Every file below manifests/ (symbolic links reported as links, not followed). */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const stat = lstatSync(path);
    return stat.isDirectory() ? files(path) : [path];
  });
}
const rel = (path: string) => relative(ROOT, path);
const kustomizations = files(MANIFESTS).filter((f) => /(^|\/)kustomization\.yaml$/.test(f));
const kindOf = (file: string) => (YAML.parse(readFileSync(file, 'utf8')) as { kind?: string }).kind;

t.test('every kustomization renders with kubectl kustomize; every component is used', async (t) => {
  const components = kustomizations.filter((f) => kindOf(f) === 'Component').map((f) => rel(join(f, '..')));
  for (const file of kustomizations.filter((f) => kindOf(f) !== 'Component')) {
    const dir = rel(join(file, '..'));
    t.doesNotThrow(() => render(dir), `${dir} renders`);
  }
  for (const component of components) {
    const users = kustomizations.filter((f) => (YAML.parse(readFileSync(f, 'utf8')) as { components?: string[] }).components?.some((c) => rel(join(f, '..', c)) === component));
    t.ok(users.length > 0, `${component} is used by an overlay`);
  }
});

t.test('every overlay is a tested install', async (t) => {
  const tested = new Set(INSTALL_SPECS.flatMap((s) => [s.dir, ...(s.rbacDir ? [s.rbacDir] : [])]));
  const overlays = kustomizations.map((f) => rel(join(f, '..'))).filter((d) => d.startsWith('manifests/overlays/'));
  t.ok(overlays.length >= 5, 'the overlays are found');
  for (const dir of overlays) t.ok(tested.has(dir), `${dir} is in test/manifests/installs.ts`);
});

t.test('`kubectl apply -k manifests/` installs exactly the in-cluster overlay', async (t) => {
  t.same(render('manifests'), render('manifests/overlays/in-cluster'));
});

t.test('the Elevation CRD file (the one test/elevation/crd.test.ts checks against the code) is what the installs apply', async (t) => {
  const path = join(MANIFESTS, 'rbac/elevation-store/elevation-crd.yaml');
  const fromFile = YAML.parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as Obj);
  for (const dir of ['manifests', 'manifests/overlays/external-cluster/upstream']) {
    const installed = render(dir);
    for (const object of fromFile) t.same(find(installed, object.kind, object.metadata.name), object, `${dir}: ${object.kind} ${object.metadata.name}`);
  }
  t.notOk(find(render('manifests/overlays/external-cluster'), 'CustomResourceDefinition'), 'external-cluster installs no CRD where kubegate runs');
});

t.test('external-cluster/upstream holds only kubegate\'s identity, permissions and grant store', async (t) => {
  const kinds = [...new Set(render('manifests/overlays/external-cluster/upstream').map((o) => o.kind))].sort();
  t.same(kinds, ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Namespace', 'Role', 'RoleBinding', 'ServiceAccount']);
});

t.test('every RBAC rule in the sources carries a comment saying why', async (t) => {
  let rules = 0;
  for (const file of files(MANIFESTS).filter((f) => f.endsWith('.yaml') && !lstatSync(f).isSymbolicLink())) {
    for (const doc of YAML.parseAllDocuments(readFileSync(file, 'utf8'))) {
      const kind = doc.get('kind');
      const seq = doc.get('rules', true);
      if ((kind !== 'Role' && kind !== 'ClusterRole') || !isSeq(seq)) continue;
      seq.items.forEach((item, n) => {
        rules++;
        // The yaml parser attaches a comment above the first item to the list itself.
        const comment = (isMap(item) ? item.commentBefore : undefined) ?? (n === 0 ? seq.commentBefore : undefined);
        t.ok(comment?.trim(), `${rel(file)}: ${String(kind)} ${String(doc.getIn(['metadata', 'name']))} rule ${n} has a comment`);
      });
    }
  }
  t.ok(rules >= 10, `${rules} rules found`);
});

t.test('the constrained-impersonation overlay says where its verbs come from and that they are unverified', async (t) => {
  const dir = join(MANIFESTS, 'overlays/constrained-impersonation');
  const text = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
  t.match(text, /KEP-5284/);
  t.match(text, /UNVERIFIED|could not be\s+(checked|verified)/);
  t.match(text, /impersonate:user-info/);
  t.match(text, /impersonate-on:/);
});

t.test("base/config.yaml's commented elevation example is valid once uncommented", async (t) => {
  const text = readFileSync(join(MANIFESTS, 'base/config.yaml'), 'utf8');
  const at = text.indexOf('# elevation:');
  t.ok(at > 0, 'the example is there');
  const uncommented = text.slice(0, at) + text.slice(at).split('\n').map((line) => line.replace(/^# ?/, '')).join('\n');
  const result = validateConfig(YAML.parse(uncommented));
  t.ok(result.ok, result.ok ? 'valid' : result.issues.join('\n'));
  t.equal(result.ok && result.config.elevation?.store.type, 'kubernetes', 'it keeps grants in the Kubernetes store');
});
