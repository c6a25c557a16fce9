/**
 * Verified claims → {@link UserInfo} the way kube-apiserver's structured authentication configuration
 * (`AuthenticationConfiguration` `jwt[]`) does it, in its order:
 * 1. `claimValidationRules`: `claim` + `requiredValue` (the claim must be that string) or a CEL `expression`
 *    over `claims` that must be true (its `message` is the refusal reason);
 * 2. `claimMappings`: `username` (required), `groups`, `uid` by `claim` (+ `prefix`) or CEL `expression`;
 *    `extra` by `key` + `valueExpression`. An expression's `''`, `[]` or `null` means absent (groups,
 *    extra); uid must be a string (`''`: none); a username must be a non-empty string. With `username.claim: email`, an `email_verified` claim
 *    that is present must be true (kube-apiserver does the same);
 * 3. `userValidationRules`: CEL over `user` (`username`, `uid`, `groups`, `extra`) that must be true.
 * Then kubegate's own rule: names starting with `system:` are refused unless `allowSystemNames`.
 *
 * Expressions arrive compiled (cel/cel.ts, at configuration load); this module only evaluates them.
 */
import type { CompiledExpression } from '../cel/cel.js';
import { KubegateError } from '../errors/errors.js';
import type { UserInfo } from './user.js';

/** Verified ID-token claims. */
export type Claims = Readonly<Record<string, unknown>>;

export type ClaimOrExpression<WithPrefix extends boolean = true> =
  | (WithPrefix extends true ? { claim: string; prefix: string } : { claim: string })
  | { expression: CompiledExpression };

export type ClaimValidationRule = { claim: string; requiredValue: string } | { expression: CompiledExpression; message?: string | undefined };

export interface UserValidationRule {
  expression: CompiledExpression;
  message?: string | undefined;
}

/** One issuer's rules, compiled. */
export interface ClaimRules {
  claimValidationRules: readonly ClaimValidationRule[];
  username: ClaimOrExpression;
  groups?: ClaimOrExpression | undefined;
  uid?: ClaimOrExpression<false> | undefined;
  extra: readonly { key: string; valueExpression: CompiledExpression }[];
  userValidationRules: readonly UserValidationRule[];
  allowSystemNames: boolean;
}

/**
 * @throws KubegateError AUTHN_CLAIMS (401) when a rule refuses the token or a claim/expression gives no
 *   usable value; IDENTITY_RESERVED (403) for a `system:` name without `allowSystemNames`.
 */
export function mapStructuredClaims(claims: Claims, rules: ClaimRules): UserInfo {
  for (const [i, rule] of rules.claimValidationRules.entries()) {
    if ('claim' in rule) {
      if (claims[rule.claim] !== rule.requiredValue) {
        throw refused(`required claim ${JSON.stringify(rule.claim)} is missing or has another value`, { claim: rule.claim, rule: `claimValidationRules[${i}]` });
      }
    } else if (evaluate(rule.expression, { claims }, `claimValidationRules[${i}]`) !== true) {
      throw refused(rule.message ? `claim validation failed: ${rule.message}` : `claim validation expression ${JSON.stringify(rule.expression.source)} is not true`, { rule: `claimValidationRules[${i}]` });
    }
  }

  const username = usernameOf(claims, rules.username);
  const groups = rules.groups === undefined ? [] : listOf(claims, rules.groups, 'claimMappings.groups');
  const uid = rules.uid === undefined ? undefined : uidOf(claims, rules.uid);
  const extra: Record<string, string[]> = {};
  for (const [i, e] of rules.extra.entries()) {
    const values = stringsOf(evaluate(e.valueExpression, { claims }, `claimMappings.extra[${i}]`), `claimMappings.extra[${i}].valueExpression`);
    if (values.length > 0) extra[e.key] = values;
  }
  const user: UserInfo = uid === undefined ? { username, groups, extra } : { username, uid, groups, extra };

  if (rules.userValidationRules.length > 0) {
    const view = { username, uid: uid ?? '', groups, extra };
    for (const [i, rule] of rules.userValidationRules.entries()) {
      if (evaluate(rule.expression, { user: view }, `userValidationRules[${i}]`) !== true) {
        throw refused(rule.message ? `user validation failed: ${rule.message}` : `user validation expression ${JSON.stringify(rule.expression.source)} is not true`, { rule: `userValidationRules[${i}]` });
      }
    }
  }
  if (!rules.allowSystemNames) {
    const reserved = [username, ...groups].find((n) => n.startsWith('system:'));
    if (reserved !== undefined) throw new KubegateError('IDENTITY_RESERVED', 'mapped identity uses a reserved system: name', { details: { name: reserved } });
  }
  return user;
}

function usernameOf(claims: Claims, m: ClaimOrExpression): string {
  if ('claim' in m) {
    const raw = claims[m.claim];
    if (typeof raw !== 'string' || raw === '') {
      throw refused(`username claim ${JSON.stringify(m.claim)} is missing or not a non-empty string`, { claim: m.claim });
    }
    if (m.claim === 'email' && 'email_verified' in claims && claims.email_verified !== true) {
      throw refused('email_verified claim is present but not true', { claim: 'email_verified' });
    }
    return m.prefix + raw;
  }
  const value = evaluate(m.expression, { claims }, 'claimMappings.username');
  if (typeof value !== 'string' || value === '') throw refused('claimMappings.username.expression did not give a non-empty string', { rule: 'claimMappings.username' });
  return value;
}

function uidOf(claims: Claims, m: ClaimOrExpression<false>): string | undefined {
  if ('claim' in m) {
    const raw = claims[m.claim];
    if (typeof raw !== 'string' || raw === '') throw refused(`uid claim ${JSON.stringify(m.claim)} is missing or not a non-empty string`, { claim: m.claim });
    return raw;
  }
  const value = evaluate(m.expression, { claims }, 'claimMappings.uid');
  // kube-apiserver: the uid expression must return a string; '' means no uid.
  if (typeof value !== 'string') throw refused('claimMappings.uid.expression did not give a string', { rule: 'claimMappings.uid' });
  if (value === '') return undefined;
  return value;
}

function listOf(claims: Claims, m: ClaimOrExpression, field: string): string[] {
  if ('claim' in m) {
    const raw = claims[m.claim];
    if (raw === undefined) return [];
    if (typeof raw === 'string') return [m.prefix + raw];
    if (Array.isArray(raw) && raw.every((v): v is string => typeof v === 'string')) return raw.map((g) => m.prefix + g);
    throw refused(`claim ${JSON.stringify(m.claim)} must be a string or an array of strings`, { claim: m.claim });
  }
  return stringsOf(evaluate(m.expression, { claims }, field), `${field}.expression`);
}

/** A string, a list of strings, or '' / [] / null (absent). */
function stringsOf(value: unknown, field: string): string[] {
  if (value === null || value === undefined || value === '') return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return value.filter((v) => v !== '');
  throw refused(`${field} did not give a string or a list of strings`, { rule: field.replace(/\.(value)?[eE]xpression$/, '') });
}

function evaluate(expression: CompiledExpression, vars: Record<string, unknown>, where: string): unknown {
  try {
    return expression.evaluate(vars);
  } catch (err) {
    // e.g. "No such key: email" when a claim the expression reads is absent (use claims.?x.orValue(...)).
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
    throw refused(`${where}: expression ${JSON.stringify(expression.source)} failed: ${why}`, { rule: where });
  }
}

function refused(message: string, details: Record<string, string>): KubegateError {
  return new KubegateError('AUTHN_CLAIMS', message, { details });
}
