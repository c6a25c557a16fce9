/** The shipped examples are valid configuration: what a user copies must start. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { validateConfig } from '../src/config/validate.js';

t.test('examples/config.yaml validates', async (t) => {
  const { config } = loadConfig(['--config', 'examples/config.yaml'], {});
  t.equal(config.oidc.issuerUrl, 'https://login.example.com');
  t.same(config.oidc.requiredClaims, { hd: 'example.com' });
  t.equal(config.identity.allowSystemNames, false);
});

t.test('the config in manifests/kubegate.yaml validates, and the manifests grant only impersonation and access reviews', async (t) => {
  const docs = YAML.parseAllDocuments(readFileSync('manifests/kubegate.yaml', 'utf8')).map((d) => d.toJS() as { kind: string; data?: Record<string, string>; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] });
  const configMap = docs.find((d) => d.kind === 'ConfigMap');
  const result = validateConfig(YAML.parse(configMap!.data!['config.yaml']!));
  t.ok(result.ok, result.ok ? 'valid' : result.issues.join('\n'));
  const role = docs.find((d) => d.kind === 'ClusterRole');
  const grants = role!.rules!.flatMap((r) => r.verbs.flatMap((v) => r.resources.map((res) => `${v} ${r.apiGroups.join('|')}/${res}`)));
  t.same(grants.filter((g) => !g.startsWith('impersonate ')), ['create authorization.k8s.io/subjectaccessreviews'], 'beyond impersonation, only creating SubjectAccessReviews (which store nothing)');
});
