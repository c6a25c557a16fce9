/**
 * manifests/rbac/elevation-store/elevation-crd.yaml against the code: the names match src/elevation/types.ts; every field the
 * Kubernetes store writes is in the schema (the API server silently prunes unknown fields: a missing
 * `expiresAt` would lose the end of every grant); the schema's own limits accept what kubegate writes;
 * no status subresource (the store writes status with the main object, which a status subresource would
 * silently ignore); printer columns point at real fields; the Role grants exactly what the store uses.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { toResource } from '../../src/elevation/kube-store.js';
import { ELEVATION_API_GROUP, ELEVATION_API_VERSION, ELEVATION_KIND, ELEVATION_PLURAL, type Elevation } from '../../src/elevation/types.js';
import { sample } from './store-contract.js';

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  format?: string;
};
type Doc = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

const docs = parseAllDocuments(readFileSync(new URL('../../manifests/rbac/elevation-store/elevation-crd.yaml', import.meta.url), 'utf8')).map((d) => d.toJS() as Doc);
const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
const crd = byKind('CustomResourceDefinition')[0] as Doc & {
  spec: { group: string; scope: string; names: { kind: string; plural: string }; versions: { name: string; served: boolean; storage: boolean; subresources?: Record<string, unknown>; schema: { openAPIV3Schema: Schema }; additionalPrinterColumns: { name: string; type: string; jsonPath: string }[] }[] };
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
  if (s.type === 'array') {
    if (!Array.isArray(value)) return void out.push(`${path}: not an array`);
    if (s.minItems !== undefined && value.length < s.minItems) out.push(`${path}: fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) out.push(`${path}: more than ${s.maxItems} items`);
    value.forEach((v, i) => check(v, s.items!, `${path}[${i}]`, out));
    return;
  }
  if (s.type === 'string') {
    if (typeof value !== 'string') return void out.push(`${path}: not a string`);
    if (s.minLength !== undefined && value.length < s.minLength) out.push(`${path}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && value.length > s.maxLength) out.push(`${path}: longer than ${s.maxLength}`);
    if (s.format === 'date-time' && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)) out.push(`${path}: not RFC 3339`);
  }
  if (s.type === 'integer' && (!Number.isInteger(value) || (s.minimum !== undefined && (value as number) < s.minimum))) out.push(`${path}: not an integer ≥ ${s.minimum}`);
  if (s.enum && !s.enum.includes(value)) out.push(`${path}: not one of ${s.enum.join(', ')}`);
}

t.test('names match the code', async (t) => {
  t.equal(crd.metadata.name, `${ELEVATION_PLURAL}.${ELEVATION_API_GROUP}`);
  t.equal(crd.spec.group, ELEVATION_API_GROUP);
  t.equal(crd.spec.scope, 'Namespaced');
  t.equal(crd.spec.names.kind, ELEVATION_KIND);
  t.equal(crd.spec.names.plural, ELEVATION_PLURAL);
  t.same(crd.spec.versions.map((v) => [v.name, v.served, v.storage]), [[ELEVATION_API_VERSION, true, true]]);
});

t.test('every field the store writes is in the schema and within its limits', async (t) => {
  const now = new Date();
  const full: Elevation = {
    ...sample({ phase: 'Revoked' }),
    approvedBy: 'bob@example.com',
    approvedAt: now.toISOString(),
    activeAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
    revokedBy: 'carol@example.com',
    revokedAt: now.toISOString(),
    resourceVersion: '7',
  };
  const problems: string[] = [];
  check(toResource(full, 'kubegate'), schema, '', problems);
  t.same(problems, [], 'a fully set Elevation passes');
  const bad: string[] = [];
  check({ ...toResource(full, 'kubegate'), spec: { ...toResource(full, 'kubegate').spec, groups: [], extra: 1 } }, schema, '', bad);
  t.same(bad.sort(), ['.spec.extra: not in the schema (would be pruned)', '.spec.groups: fewer than 1 items'], 'the checker itself notices problems');
});

t.test('no status subresource: status is written with the object', async (t) => {
  t.notOk(version.subresources?.status, 'a status subresource would make the store\'s status writes vanish');
});

t.test('printer columns: requester, groups, phase, expires, reason, age', async (t) => {
  t.same(version.additionalPrinterColumns.map((c) => c.name), ['Requester', 'Groups', 'Phase', 'Expires', 'Reason', 'Age']);
  for (const c of version.additionalPrinterColumns) {
    const [top, field] = c.jsonPath.split('.').slice(1);
    if (top === 'metadata') continue;
    t.ok(schema.properties![top!]!.properties![field!], `${c.jsonPath} is a field of the schema`);
  }
  // A `date` column shows a future time as "<invalid>" in kubectl: the expiry is printed as it is.
  t.equal(version.additionalPrinterColumns.find((c) => c.name === 'Expires')!.type, 'string');
});

t.test('RBAC: the service account may get, list, watch, create and update elevations in its namespace only', async (t) => {
  const role = byKind('Role')[0] as Doc & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
  t.equal(role.metadata.namespace, 'kubegate');
  t.same(role.rules, [{ apiGroups: [ELEVATION_API_GROUP], resources: [ELEVATION_PLURAL], verbs: ['get', 'list', 'watch', 'create', 'update'] }]);
  const binding = byKind('RoleBinding')[0] as Doc & { roleRef: { kind: string; name: string }; subjects: unknown[] };
  t.equal(binding.metadata.namespace, 'kubegate');
  t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
  t.same(binding.subjects, [{ kind: 'ServiceAccount', name: 'kubegate', namespace: 'kubegate' }]);
  t.same(byKind('ClusterRole'), [], 'nothing cluster-wide');
});
