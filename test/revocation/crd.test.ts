/**
 * manifests/rbac/revocation-store/revocation-crd.yaml against the code: the names match
 * src/revocation/types.ts; every field the Kubernetes store writes is in the schema (the API server
 * silently prunes unknown fields: a pruned `issuedBefore` would turn "tokens before T" into "every token")
 * and within its limits; printer columns point at real fields; the Role grants exactly what the store uses.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { toResource } from '../../src/revocation/stores.js';
import { REVOCATION_API_GROUP, REVOCATION_API_VERSION, REVOCATION_KIND, REVOCATION_PLURAL, type Revocation } from '../../src/revocation/types.js';

type Schema = { type?: string; properties?: Record<string, Schema>; required?: string[]; minLength?: number; maxLength?: number; format?: string };
type Doc = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

const docs = parseAllDocuments(readFileSync(new URL('../../manifests/rbac/revocation-store/revocation-crd.yaml', import.meta.url), 'utf8')).map((d) => d.toJS() as Doc);
const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
const crd = byKind('CustomResourceDefinition')[0] as Doc & {
  spec: { group: string; scope: string; names: { kind: string; plural: string }; versions: { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: Schema }; additionalPrinterColumns: { name: string; jsonPath: string }[] }[] };
};
const version = crd.spec.versions[0]!;
const schema = version.schema.openAPIV3Schema;

/** What the API server's structural schema would say about `value`: pruned fields and violations. */
function check(value: unknown, s: Schema, path: string, out: string[]): void {
  if (s.type === 'object' && s.properties) {
    const obj = value as Record<string, unknown>;
    for (const req of s.required ?? []) if (obj[req] === undefined) out.push(`${path}.${req}: required`);
    for (const [k, v] of Object.entries(obj)) {
      if (path === '' && k === 'metadata') continue;
      const sub = s.properties[k];
      if (!sub) out.push(`${path}.${k}: not in the schema (would be pruned)`);
      else check(v, sub, `${path}.${k}`, out);
    }
    return;
  }
  if (s.type === 'string') {
    if (typeof value !== 'string') return void out.push(`${path}: not a string`);
    if (s.minLength !== undefined && value.length < s.minLength) out.push(`${path}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && value.length > s.maxLength) out.push(`${path}: longer than ${s.maxLength}`);
    if (s.format === 'date-time' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)) out.push(`${path}: not RFC 3339`);
  }
}

t.test('names match the code', async (t) => {
  t.equal(crd.metadata.name, `${REVOCATION_PLURAL}.${REVOCATION_API_GROUP}`);
  t.equal(crd.spec.scope, 'Namespaced');
  t.equal(crd.spec.names.kind, REVOCATION_KIND);
  t.same(crd.spec.versions.map((v) => [v.name, v.served, v.storage]), [[REVOCATION_API_VERSION, true, true]]);
});

t.test('every field the store writes is in the schema and within its limits', async (t) => {
  const now = new Date().toISOString();
  const full: Revocation = { id: 'rev-1', user: 'bob@example.com', issuedBefore: now, reason: 'x'.repeat(1024), createdBy: 'sam', createdAt: now, resourceVersion: '3' };
  for (const r of [full, { ...full, user: undefined, group: 'contractors', issuedBefore: undefined }]) {
    const problems: string[] = [];
    check(JSON.parse(JSON.stringify(toResource(r, 'kubegate'))), schema, '', problems);
    t.same(problems, [], `${r.user ? 'a user' : 'a group'} revocation passes`);
  }
  const bad: string[] = [];
  check({ ...toResource(full, 'kubegate'), spec: { ...toResource(full, 'kubegate').spec, reason: '', extra: 1 } }, schema, '', bad);
  t.same(bad.sort(), ['.spec.extra: not in the schema (would be pruned)', '.spec.reason: shorter than 1'], 'the checker itself notices problems');
});

t.test('printer columns point at fields of the schema', async (t) => {
  for (const c of version.additionalPrinterColumns) {
    const [top, field] = c.jsonPath.split('.').slice(1);
    if (top === 'metadata') continue;
    t.ok(schema.properties![top!]!.properties![field!], `${c.jsonPath} is a field of the schema`);
  }
});

t.test('RBAC: get, list, watch, create and delete revocations in kubegate\'s namespace only', async (t) => {
  const role = byKind('Role')[0] as Doc & { rules: unknown[] };
  t.equal(role.metadata.namespace, 'kubegate');
  t.same(role.rules, [{ apiGroups: [REVOCATION_API_GROUP], resources: [REVOCATION_PLURAL], verbs: ['get', 'list', 'watch', 'create', 'delete'] }]);
  const binding = byKind('RoleBinding')[0] as Doc & { roleRef: unknown; subjects: unknown[] };
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'kubegate', namespace: 'kubegate' }]);
  t.same(byKind('ClusterRole'), [], 'nothing cluster-wide');
});
