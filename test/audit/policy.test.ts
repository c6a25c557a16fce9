/**
 * The audit Policy as kube-apiserver evaluates it: a table of requests against one policy (first match
 * wins, levels per rule, users/groups of the mapped identity, core group "", subresources and
 * `resource/*`, resourceNames, namespaces, nonResourceURLs with a trailing `*`, omitStages merged), and
 * validation errors that name the field.
 */
import t from 'tap';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decide, DEFAULT_POLICY, loadPolicyFile, parsePolicy, type Policy, type PolicyAttributes } from '../../src/audit/policy.js';

const POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    { level: 'None', users: ['system:kube-proxy'] },
    { level: 'None', nonResourceURLs: ['/healthz*', '/version'] },
    { level: 'Metadata', resources: [{ group: '', resources: ['secrets', 'configmaps'] }] },
    { level: 'RequestResponse', resources: [{ group: '', resources: ['pods/log', 'pods/status'] }], omitStages: ['ResponseStarted'] },
    { level: 'Request', resources: [{ group: '', resources: ['pods/*'] }], namespaces: ['prod'] },
    { level: 'RequestResponse', userGroups: ['oidc:sre'], verbs: ['delete', 'deletecollection'] },
    { level: 'Request', resources: [{ group: 'apps', resources: ['deployments'], resourceNames: ['critical'] }] },
    { level: 'Metadata', resources: [{ group: 'apps', resources: ['*/scale'] }] },
    { level: 'Request', resources: [{ group: 'rbac.authorization.k8s.io' }] },
    { level: 'None', resources: [{ group: '', resources: ['events'] }] },
    { level: 'Metadata', omitStages: ['ResponseStarted'] },
  ],
};

const res = (verb: string, resource: string, extra: Partial<PolicyAttributes> = {}): PolicyAttributes => ({
  username: 'jane@example.com',
  groups: ['oidc:dev'],
  verb,
  resourceRequest: true,
  path: `/api/v1/${resource}`,
  apiGroup: '',
  resource,
  ...extra,
});
const nonRes = (path: string, extra: Partial<PolicyAttributes> = {}): PolicyAttributes => ({ username: 'jane@example.com', groups: [], verb: 'get', resourceRequest: false, path, ...extra });

t.test('the policy table: first match wins', async (t) => {
  const parsed = parsePolicy(POLICY);
  if (!parsed.ok) throw new Error(parsed.issues.join('\n'));
  const policy: Policy = parsed.policy;
  const cases: [string, PolicyAttributes, string, string[]][] = [
    ['a named user matched first, whatever else matches', res('get', 'secrets', { username: 'system:kube-proxy' }), 'None', ['RequestReceived']],
    ['a non-resource URL prefix', nonRes('/healthz/etcd'), 'None', ['RequestReceived']],
    ['an exact non-resource URL', nonRes('/version'), 'None', ['RequestReceived']],
    ['a non-resource URL that is not listed falls to the catch-all', nonRes('/versionz'), 'Metadata', ['RequestReceived', 'ResponseStarted']],
    ['core group "" secrets at Metadata, never bodies', res('create', 'secrets', { namespace: 'prod' }), 'Metadata', ['RequestReceived']],
    ['a secrets rule does not match a resource of the same name in another group', res('get', 'secrets', { apiGroup: 'example.com' }), 'Metadata', ['RequestReceived', 'ResponseStarted']],
    ['a subresource by name, rule omitStages merged with the policy\'s', res('get', 'pods', { subresource: 'log', name: 'web' }), 'RequestResponse', ['RequestReceived', 'ResponseStarted']],
    ['pods/* matches the resource itself in a listed namespace', res('get', 'pods', { namespace: 'prod', name: 'web' }), 'Request', ['RequestReceived']],
    ['pods/* matches any subresource', res('create', 'pods', { namespace: 'prod', subresource: 'exec' }), 'Request', ['RequestReceived']],
    ['pods/* outside the listed namespace does not match', res('get', 'pods', { namespace: 'dev', name: 'web' }), 'Metadata', ['RequestReceived', 'ResponseStarted']],
    ['"pods" alone does not match a subresource: userGroups + verbs rule', res('delete', 'pods', { namespace: 'dev', name: 'web', groups: ['oidc:sre'] }), 'RequestResponse', ['RequestReceived']],
    ['the verbs rule needs the group', res('delete', 'pods', { namespace: 'dev', name: 'web' }), 'Metadata', ['RequestReceived', 'ResponseStarted']],
    ['resourceNames: the named object', res('update', 'deployments', { apiGroup: 'apps', name: 'critical', namespace: 'prod' }), 'Request', ['RequestReceived']],
    ['resourceNames: another object falls through', res('update', 'deployments', { apiGroup: 'apps', name: 'web', namespace: 'prod' }), 'Metadata', ['RequestReceived', 'ResponseStarted']],
    ['*/scale: that subresource of any resource in the group', res('patch', 'deployments', { apiGroup: 'apps', name: 'web', subresource: 'scale' }), 'Metadata', ['RequestReceived']],
    ['a group without resources: every resource in it', res('create', 'clusterrolebindings', { apiGroup: 'rbac.authorization.k8s.io' }), 'Request', ['RequestReceived']],
    ['None for events', res('create', 'events', { namespace: 'x' }), 'None', ['RequestReceived']],
    ['a resource rule never matches a non-resource request', nonRes('/api/v1/secrets'), 'Metadata', ['RequestReceived', 'ResponseStarted']],
    ['an unauthenticated request (no user) only matches rules without users', res('get', 'secrets', { username: undefined, groups: [] }), 'Metadata', ['RequestReceived']],
  ];
  for (const [name, attrs, level, omit] of cases) {
    const d = decide(policy, attrs);
    t.equal(d.level, level, `${name}: level`);
    t.same([...d.omitStages].sort(), [...omit].sort(), `${name}: omitStages`);
  }
  t.equal(decide({ ...policy, rules: policy.rules.slice(0, 2) }, res('get', 'pods')).level, 'None', 'no rule matches: None');
  t.same(decide(DEFAULT_POLICY, res('get', 'secrets')), { level: 'Metadata', omitStages: ['RequestReceived'], omitManagedFields: false }, 'no policy file: Metadata, RequestReceived omitted');
});

t.test('omitManagedFields: rule-level overrides the policy', async (t) => {
  const parsed = parsePolicy({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitManagedFields: true, rules: [{ level: 'Request', verbs: ['create'], omitManagedFields: false }, { level: 'Request' }] });
  if (!parsed.ok) throw new Error(parsed.issues.join());
  t.equal(decide(parsed.policy, res('create', 'pods')).omitManagedFields, false);
  t.equal(decide(parsed.policy, res('update', 'pods')).omitManagedFields, true);
});

t.test('invalid policies: every problem, each naming its field', async (t) => {
  const result = parsePolicy({
    apiVersion: 'audit.k8s.io/v1beta1',
    kind: 'Policy',
    omitStages: ['RequestRecieved'],
    colour: 'blue',
    rules: [
      { level: 'Everything' },
      { level: 'Metadata', resources: [{ group: '', resourceNames: ['x'] }], nonResourceURLs: ['/api'] },
      { level: 'None', nonResourceURLs: ['healthz', '/a*b'] },
      { level: 'Request', users: 'jane', resources: [{ group: '', resources: ['pods/log/x'] }] },
    ],
  });
  t.equal(result.ok, false);
  const issues = result.ok ? [] : result.issues;
  for (const expected of [
    /^apiVersion: must be audit\.k8s\.io\/v1, got "audit\.k8s\.io\/v1beta1"/,
    /^omitStages\[0\]: must be one of RequestReceived, ResponseStarted, ResponseComplete, Panic, got "RequestRecieved"/,
    /^colour: unknown field/,
    /^rules\[0\]\.level: must be one of None, Metadata, Request, RequestResponse, got "Everything"/,
    /^rules\[1\]\.resources\[0\]\.resourceNames: needs at least one resource/,
    /^rules\[1\]: a rule cannot apply to both resources\/namespaces and nonResourceURLs/,
    /^rules\[2\]\.nonResourceURLs\[0\]: "healthz" must start with \//,
    /^rules\[2\]\.nonResourceURLs\[1\]: "\/a\*b" may have \* only as its last character/,
    /^rules\[3\]\.users: must be a list of strings/,
    /^rules\[3\]\.resources\[0\]\.resources\[0\]: "pods\/log\/x" must be/,
  ]) t.ok(issues.some((i) => expected.test(i)), `reported: ${expected}`);
  t.same(parsePolicy({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', rules: [] }), { ok: false, issues: ['rules: must list at least one rule (kube-apiserver refuses a policy with no rules)'] });
});

t.test('loadPolicyFile: YAML file, errors name the flag and the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-policy-'));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n  resources:\n  - group: ""\n    resources: ["pods"]\n- level: Metadata\n');
  t.equal(decide(loadPolicyFile(good), res('get', 'pods')).level, 'RequestResponse');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n');
  t.throws(() => loadPolicyFile(bad), { code: 'CONFIG_INVALID', message: /audit\.policyFile \(--audit-policy-file\): invalid audit policy .*bad\.yaml:\n  - rules\[0\]\.level: must be one of/ });
  t.throws(() => loadPolicyFile(join(dir, 'missing.yaml')), { code: 'CONFIG_INVALID', message: /--audit-policy-file\): cannot read/ });
  writeFileSync(bad, 'rules: [');
  t.throws(() => loadPolicyFile(bad), { code: 'CONFIG_INVALID', message: /is not YAML/ });
});
