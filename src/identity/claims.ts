/**
 * Verified ID-token claims → {@link UserInfo}, with kube-apiserver's --oidc-* semantics:
 * - username from `usernameClaim`; prefix `<issuer>#` by default unless the claim is `email`; `-` disables it;
 * - with the `email` claim, a present `email_verified` must be true (as kube-apiserver does);
 * - groups from a string or an array of strings, each prefixed with `groupsPrefix`;
 * - names starting with `system:` are refused unless `allowSystemNames` (an IdP must not mint system:masters).
 */
import { KubegateError } from '../errors/errors.js';
import type { UserInfo } from './user.js';

export interface ClaimMapping {
  issuerUrl: string;
  usernameClaim: string;
  usernamePrefix?: string | undefined;
  groupsClaim?: string | undefined;
  groupsPrefix: string;
  uidClaim?: string | undefined;
  extraClaims: Readonly<Record<string, string>>;
  allowSystemNames: boolean;
}

export type Claims = Readonly<Record<string, unknown>>;

/** @throws KubegateError AUTHN_CLAIMS (401) when claims are missing or malformed, IDENTITY_RESERVED (403). */
export function mapClaims(claims: Claims, m: ClaimMapping): UserInfo {
  const rawName = claims[m.usernameClaim];
  if (typeof rawName !== 'string' || rawName === '') {
    throw new KubegateError('AUTHN_CLAIMS', `username claim ${JSON.stringify(m.usernameClaim)} is missing or not a non-empty string`, {
      details: { claim: m.usernameClaim },
    });
  }
  if (m.usernameClaim === 'email' && 'email_verified' in claims && claims.email_verified !== true) {
    throw new KubegateError('AUTHN_CLAIMS', 'email_verified claim is present but not true', { details: { claim: 'email_verified' } });
  }
  const username = usernamePrefix(m) + rawName;

  const groups: string[] = [];
  if (m.groupsClaim !== undefined && claims[m.groupsClaim] !== undefined) {
    for (const g of stringOrStrings(claims[m.groupsClaim], m.groupsClaim)) groups.push(m.groupsPrefix + g);
  }

  let uid: string | undefined;
  if (m.uidClaim !== undefined) {
    const rawUid = claims[m.uidClaim];
    if (typeof rawUid !== 'string' || rawUid === '') {
      throw new KubegateError('AUTHN_CLAIMS', `uid claim ${JSON.stringify(m.uidClaim)} is missing or not a non-empty string`, {
        details: { claim: m.uidClaim },
      });
    }
    uid = rawUid;
  }

  const extra: Record<string, string[]> = {};
  for (const [key, claim] of Object.entries(m.extraClaims)) {
    if (claims[claim] === undefined) continue;
    const values = stringOrStrings(claims[claim], claim);
    if (values.length > 0) extra[key] = values;
  }

  if (!m.allowSystemNames) {
    const reserved = [username, ...groups].find((n) => n.startsWith('system:'));
    if (reserved !== undefined) {
      throw new KubegateError('IDENTITY_RESERVED', 'mapped identity uses a reserved system: name', {
        details: { name: reserved },
      });
    }
  }
  return uid === undefined ? { username, groups, extra } : { username, uid, groups, extra };
}

function usernamePrefix(m: ClaimMapping): string {
  if (m.usernamePrefix === '-') return '';
  // As kube-apiserver: an empty prefix counts as unset.
  if (m.usernamePrefix !== undefined && m.usernamePrefix !== '') return m.usernamePrefix;
  return m.usernameClaim === 'email' ? '' : `${m.issuerUrl}#`;
}

function stringOrStrings(value: unknown, claim: string): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return value;
  throw new KubegateError('AUTHN_CLAIMS', `claim ${JSON.stringify(claim)} must be a string or an array of strings`, {
    details: { claim },
  });
}
