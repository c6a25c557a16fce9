/** The shipped examples are valid configuration: what a user copies must start. */
import t from 'tap';
import YAML from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';
import { render } from './manifests/render.js';

t.test('examples/config.yaml validates', async (t) => {
  const { config } = loadConfig(['--config', 'examples/config.yaml'], {});
  t.equal(config.oidc!.issuerUrl, 'https://login.example.com');
  t.same(config.oidc!.requiredClaims, { hd: 'example.com' });
  t.equal(config.identity.allowSystemNames, false);
});

t.test('the config of the default install (`kubectl apply -k manifests/`) validates, and it grants only impersonation, access reviews and the Elevation and Revocation stores', async (t) => {
  // The install as applied: rendered by kubectl's kustomize (test/manifests/ checks every overlay in depth).
  const docs = render('manifests') as { kind: string; metadata: { name: string }; data?: Record<string, string>; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }[];
  const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'kubegate');
  const result = validateConfig(YAML.parse(configMap!.data!['config.yaml']!));
  t.ok(result.ok, result.ok ? 'valid' : result.issues.join('\n'));
  const grantsOf = (kind: string) =>
    docs.filter((d) => d.kind === kind).flatMap((role) => role.rules!.flatMap((r) => r.verbs.flatMap((v) => r.resources.map((res) => `${v} ${r.apiGroups.join('|')}/${res}`))));
  t.same(grantsOf('ClusterRole').filter((g) => !g.startsWith('impersonate ')), ['create authorization.k8s.io/subjectaccessreviews'], 'beyond impersonation, only creating SubjectAccessReviews (which store nothing)');
  t.same(
    grantsOf('Role'),
    [...['get', 'list', 'watch', 'create', 'update'].map((v) => `${v} kubegate.io/elevations`), ...['get', 'list', 'watch', 'create', 'delete'].map((v) => `${v} kubegate.io/revocations`)],
    'in its namespace, only the Elevation store (no delete, no patch) and the Revocation store (no update, no patch)',
  );
  t.equal(result.ok && result.config.revocation?.store.type, 'kubernetes', 'revocation is on, in the Kubernetes store');
});
