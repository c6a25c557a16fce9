/**
 * kube-apiserver's audit Policy (`audit.k8s.io/v1` `Policy`), read from `--audit-policy-file` and
 * evaluated the way k8s.io/apiserver/pkg/audit/policy/checker.go does:
 * - rules are tried in order and the first rule that matches decides the level;
 * - `users` and `userGroups` match the authenticated, MAPPED identity (prefixes applied, before any
 *   `kubectl --as` impersonation or break-glass groups), like kube-apiserver's requesting user;
 * - `verbs` are kube-apiserver's (get, list, watch, create, …; a non-resource request's verb is the
 *   lower-cased HTTP method);
 * - a rule with `namespaces` or `resources` matches resource requests only; `group: ""` is the core
 *   group; a resource entry is `pods`, `pods/log` (a subresource), `pods/*` (the resource and all its
 *   subresources), `*` + `/scale` (that subresource of any resource) or `*`; `resourceNames` narrows to named objects;
 * - a rule with `nonResourceURLs` matches non-resource requests only; `*` alone matches every path and a
 *   trailing `*` is a prefix match;
 * - `omitStages` of the policy and of the matching rule are both omitted;
 * - no rule matches: level None.
 * Pure: no I/O except {@link loadPolicyFile}.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { KubegateError } from '../errors/errors.js';

import { LEVELS, STAGES, type AuditDecision, type Level, type Stage } from '../request/audit-types.js';

export { LEVELS, STAGES, type AuditDecision, type Level, type Stage };

export interface GroupResources {
  group: string;
  resources: string[];
  resourceNames: string[];
}

export interface PolicyRule {
  level: Level;
  users: string[];
  userGroups: string[];
  verbs: string[];
  resources: GroupResources[];
  namespaces: string[];
  nonResourceURLs: string[];
  omitStages: Stage[];
  omitManagedFields: boolean | undefined;
}

export interface Policy {
  rules: PolicyRule[];
  omitStages: Stage[];
  omitManagedFields: boolean;
}

/** What the policy needs to know of a request (kube-apiserver's authorizer.Attributes). */
export interface PolicyAttributes {
  username: string | undefined;
  groups: readonly string[];
  verb: string;
  resourceRequest: boolean;
  /** The request path without its query (non-resource matching). */
  path: string;
  apiGroup?: string | undefined;
  resource?: string | undefined;
  subresource?: string | undefined;
  namespace?: string | undefined;
  name?: string | undefined;
}

/** No policy file: every request at Metadata; RequestReceived omitted so an ordinary request has one record. */
export const DEFAULT_POLICY: Policy = {
  rules: [{ level: 'Metadata', users: [], userGroups: [], verbs: [], resources: [], namespaces: [], nonResourceURLs: [], omitStages: [], omitManagedFields: undefined }],
  omitStages: ['RequestReceived'],
  omitManagedFields: false,
};

/** Each policy's decisions, one per rule (and one for no rule), made the first time a rule matches. */
const decisions = new WeakMap<Policy, Map<PolicyRule | undefined, AuditDecision>>();

/** The decision of the first rule `attrs` match, or level None. Frozen and shared: the same rule, the same object. */
export function decide(policy: Policy, attrs: PolicyAttributes): AuditDecision {
  const rule = policy.rules.find((r) => ruleMatches(r, attrs));
  let byRule = decisions.get(policy);
  if (byRule === undefined) decisions.set(policy, (byRule = new Map()));
  let d = byRule.get(rule);
  if (d === undefined) {
    d = Object.freeze(
      rule === undefined
        ? { level: 'None' as const, omitStages: Object.freeze([...policy.omitStages]), omitManagedFields: policy.omitManagedFields }
        : { level: rule.level, omitStages: Object.freeze([...new Set([...policy.omitStages, ...rule.omitStages])]), omitManagedFields: rule.omitManagedFields ?? policy.omitManagedFields },
    );
    byRule.set(rule, d);
  }
  return d;
}

function ruleMatches(rule: PolicyRule, a: PolicyAttributes): boolean {
  if (rule.users.length > 0 && (a.username === undefined || !rule.users.includes(a.username))) return false;
  if (rule.userGroups.length > 0 && !a.groups.some((g) => rule.userGroups.includes(g))) return false;
  if (rule.verbs.length > 0 && !rule.verbs.includes(a.verb)) return false;
  if (rule.namespaces.length > 0 || rule.resources.length > 0) return resourceMatches(rule, a);
  if (rule.nonResourceURLs.length > 0) return !a.resourceRequest && rule.nonResourceURLs.some((spec) => pathMatches(a.path, spec));
  return true;
}

function resourceMatches(rule: PolicyRule, a: PolicyAttributes): boolean {
  if (!a.resourceRequest) return false;
  if (rule.namespaces.length > 0 && !rule.namespaces.includes(a.namespace ?? '')) return false;
  if (rule.resources.length === 0) return true;
  const resource = a.resource ?? '';
  const subresource = a.subresource ?? '';
  const combined = subresource === '' ? resource : `${resource}/${subresource}`;
  for (const gr of rule.resources) {
    if (gr.group !== (a.apiGroup ?? '')) continue;
    if (gr.resources.length === 0) return true;
    if (gr.resourceNames.length > 0 && !gr.resourceNames.includes(a.name ?? '')) continue;
    for (const res of gr.resources) {
      if (res === combined || res === '*') return true;
      if (subresource !== '' && res.startsWith('*/') && res.slice(2) === subresource) return true;
      if (res.endsWith('/*') && res.slice(0, -2) === resource) return true;
    }
  }
  return false;
}

function pathMatches(path: string, spec: string): boolean {
  if (spec === '*' || spec === path) return true;
  return spec.endsWith('*') && path.startsWith(spec.slice(0, -1));
}

/** Read and validate `--audit-policy-file` (YAML or JSON). @throws KubegateError CONFIG_INVALID naming the file and field. */
export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubegateError('CONFIG_INVALID', `audit.policyFile (--audit-policy-file): cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new KubegateError('CONFIG_INVALID', `audit.policyFile (--audit-policy-file): ${path} is not YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = parsePolicy(raw);
  if (!result.ok) throw new KubegateError('CONFIG_INVALID', `audit.policyFile (--audit-policy-file): invalid audit policy ${path}:\n  - ${result.issues.join('\n  - ')}`);
  return result.policy;
}

/** Validate a parsed Policy document; every problem is reported, each naming its field (`rules[2].level`). */
export function parsePolicy(raw: unknown): { ok: true; policy: Policy } | { ok: false; issues: string[] } {
  const issues: string[] = [];
  if (!isObject(raw)) return { ok: false, issues: ['the document must be an audit.k8s.io/v1 Policy object'] };
  if (raw.apiVersion !== 'audit.k8s.io/v1') issues.push(`apiVersion: must be audit.k8s.io/v1, got ${JSON.stringify(raw.apiVersion)}`);
  if (raw.kind !== 'Policy') issues.push(`kind: must be Policy, got ${JSON.stringify(raw.kind)}`);
  const known = new Set(['apiVersion', 'kind', 'metadata', 'rules', 'omitStages', 'omitManagedFields']);
  for (const key of Object.keys(raw)) if (!known.has(key)) issues.push(`${key}: unknown field`);
  const omitStages = stages(raw.omitStages, 'omitStages', issues);
  const omitManagedFields = optionalBool(raw.omitManagedFields, 'omitManagedFields', issues) ?? false;
  const rules: PolicyRule[] = [];
  if (!Array.isArray(raw.rules) || raw.rules.length === 0) issues.push('rules: must list at least one rule (kube-apiserver refuses a policy with no rules)');
  else raw.rules.forEach((r: unknown, i: number) => {
    const rule = parseRule(r, `rules[${i}]`, issues);
    if (rule) rules.push(rule);
  });
  return issues.length > 0 ? { ok: false, issues } : { ok: true, policy: { rules, omitStages, omitManagedFields } };
}

function parseRule(raw: unknown, at: string, issues: string[]): PolicyRule | undefined {
  if (!isObject(raw)) {
    issues.push(`${at}: must be an object`);
    return undefined;
  }
  const known = new Set(['level', 'users', 'userGroups', 'verbs', 'resources', 'namespaces', 'nonResourceURLs', 'omitStages', 'omitManagedFields']);
  for (const key of Object.keys(raw)) if (!known.has(key)) issues.push(`${at}.${key}: unknown field`);
  if (!LEVELS.includes(raw.level as Level)) issues.push(`${at}.level: must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(raw.level)}`);
  const resources: GroupResources[] = [];
  if (raw.resources !== undefined) {
    if (!Array.isArray(raw.resources)) issues.push(`${at}.resources: must be a list`);
    else raw.resources.forEach((gr: unknown, j: number) => {
      const where = `${at}.resources[${j}]`;
      if (!isObject(gr)) return void issues.push(`${where}: must be an object`);
      for (const key of Object.keys(gr)) if (!['group', 'resources', 'resourceNames'].includes(key)) issues.push(`${where}.${key}: unknown field`);
      if (gr.group !== undefined && typeof gr.group !== 'string') issues.push(`${where}.group: must be a string ("" is the core group)`);
      const res = strings(gr.resources, `${where}.resources`, issues);
      const names = strings(gr.resourceNames, `${where}.resourceNames`, issues);
      res.forEach((r, k) => {
        if (r === '') issues.push(`${where}.resources[${k}]: must not be empty`);
        else if (r.split('/').length > 2) issues.push(`${where}.resources[${k}]: ${JSON.stringify(r)} must be resource, resource/subresource, resource/*, */subresource or *`);
      });
      if (names.length > 0 && res.length === 0) issues.push(`${where}.resourceNames: needs at least one resource in resources`);
      resources.push({ group: typeof gr.group === 'string' ? gr.group : '', resources: res, resourceNames: names });
    });
  }
  const namespaces = strings(raw.namespaces, `${at}.namespaces`, issues);
  const nonResourceURLs = strings(raw.nonResourceURLs, `${at}.nonResourceURLs`, issues);
  nonResourceURLs.forEach((u, k) => {
    if (u !== '*' && !u.startsWith('/')) issues.push(`${at}.nonResourceURLs[${k}]: ${JSON.stringify(u)} must start with / (or be *)`);
    if (u.slice(0, -1).includes('*')) issues.push(`${at}.nonResourceURLs[${k}]: ${JSON.stringify(u)} may have * only as its last character`);
  });
  if ((resources.length > 0 || namespaces.length > 0) && nonResourceURLs.length > 0) {
    issues.push(`${at}: a rule cannot apply to both resources/namespaces and nonResourceURLs`);
  }
  return {
    level: raw.level as Level,
    users: strings(raw.users, `${at}.users`, issues),
    userGroups: strings(raw.userGroups, `${at}.userGroups`, issues),
    verbs: strings(raw.verbs, `${at}.verbs`, issues),
    resources,
    namespaces,
    nonResourceURLs,
    omitStages: stages(raw.omitStages, `${at}.omitStages`, issues),
    omitManagedFields: optionalBool(raw.omitManagedFields, `${at}.omitManagedFields`, issues),
  };
}

function strings(value: unknown, at: string, issues: string[]): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    issues.push(`${at}: must be a list of strings`);
    return [];
  }
  return value as string[];
}

function stages(value: unknown, at: string, issues: string[]): Stage[] {
  const list = strings(value, at, issues);
  list.forEach((s, i) => {
    if (!STAGES.includes(s as Stage)) issues.push(`${at}[${i}]: must be one of ${STAGES.join(', ')}, got ${JSON.stringify(s)}`);
  });
  return list.filter((s): s is Stage => STAGES.includes(s as Stage));
}

function optionalBool(value: unknown, at: string, issues: string[]): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') issues.push(`${at}: must be true or false`);
  return value === true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
