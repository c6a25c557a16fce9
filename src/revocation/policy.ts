/**
 * The revocation check: a pure function of the revocations in force (a store's snapshot), the
 * authenticated person, how their token was issued, and nothing else. Called on every request, after
 * authentication (so a cached token is checked again each time).
 *
 * - `user` matches the mapped username exactly; `group` matches any of the person's groups from the token
 *   (not groups an elevation grant adds: a grant is not how a person is identified).
 * - Without `issuedBefore` the person is denied outright. With it, only tokens whose `iat` is before that
 *   time; a token without `iat` cannot prove it is newer and is refused (fail closed).
 * - Several matching: the oldest revocation is named (deterministic).
 */
import type { SessionFacts, UserInfo } from '../identity/user.js';
import type { Revocation, RevocationVerdict } from './types.js';

/** The revocations indexed by user and by group; build once per snapshot (see {@link createRevocationIndex}). */
export interface RevocationIndex {
  readonly of: readonly Revocation[];
  readonly byUser: ReadonlyMap<string, readonly Revocation[]>;
  readonly byGroup: ReadonlyMap<string, readonly Revocation[]>;
}

export function createRevocationIndex(revocations: readonly Revocation[]): RevocationIndex {
  const byUser = new Map<string, Revocation[]>();
  const byGroup = new Map<string, Revocation[]>();
  const add = (map: Map<string, Revocation[]>, key: string, r: Revocation) => {
    const list = map.get(key);
    if (list) list.push(r);
    else map.set(key, [r]);
  };
  for (const r of revocations) {
    if (r.user !== undefined) add(byUser, r.user, r);
    else if (r.group !== undefined) add(byGroup, r.group, r);
  }
  return { of: revocations, byUser, byGroup };
}

/**
 * The verdict for one request: undefined when no revocation applies.
 * @param revocations the revocations in force, or an index of them (cheaper per request).
 */
export function isRevoked(revocations: readonly Revocation[] | RevocationIndex, user: UserInfo, session: SessionFacts): RevocationVerdict | undefined {
  const index = 'byUser' in revocations ? revocations : createRevocationIndex(revocations);
  const candidates: Revocation[] = [...(index.byUser.get(user.username) ?? [])];
  for (const g of user.groups) candidates.push(...(index.byGroup.get(g) ?? []));
  let found: Revocation | undefined;
  for (const r of candidates) {
    if (!applies(r, session)) continue;
    if (found === undefined || r.createdAt < found.createdAt || (r.createdAt === found.createdAt && r.id < found.id)) found = r;
  }
  return found && { revocation: found, message: verdictMessage(found, session) };
}

function applies(r: Revocation, session: SessionFacts): boolean {
  if (r.issuedBefore === undefined) return true;
  const before = Date.parse(r.issuedBefore);
  if (Number.isNaN(before)) return true; // unreadable bound: fail closed
  return session.issuedAt === undefined || session.issuedAt * 1000 < before;
}

function verdictMessage(r: Revocation, session: SessionFacts): string {
  const who = r.user !== undefined ? 'your access was revoked' : `access of group ${r.group} was revoked`;
  const why = `(reason: ${r.reason})`;
  if (r.issuedBefore === undefined) return `${who} at ${r.createdAt} ${why}`;
  const token = session.issuedAt === undefined ? 'your token does not say when it was issued (no iat)' : `your token was issued at ${new Date(session.issuedAt * 1000).toISOString()}`;
  return `${who} for tokens issued before ${r.issuedBefore} ${why}; ${token}: log in again`;
}
