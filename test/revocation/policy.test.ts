/**
 * isRevoked (src/revocation/policy.ts): a pure function of the revocations, the person and their token's
 * facts. Users match exactly, groups by membership; issuedBefore refuses older tokens only, and a token
 * without iat (fail closed); the oldest matching revocation is named; the message says when, why, and
 * what to do.
 */
import t from 'tap';
import { createRevocationIndex, isRevoked } from '../../src/revocation/policy.js';
import type { Revocation } from '../../src/revocation/types.js';

const T = Date.parse('2026-11-27T09:00:00Z');
const rev = (id: string, over: Partial<Revocation>): Revocation => ({ id, reason: 'why', createdBy: 'sam', createdAt: '2026-11-27T10:00:00.000Z', ...over });
const person = (username: string, groups: string[] = []) => ({ username, groups, extra: {} });
const tokenAt = (ms: number | undefined) => ({ amr: [], ...(ms !== undefined && { issuedAt: Math.floor(ms / 1000) }) });

t.test('a user revocation denies that user outright, whatever the token', async (t) => {
  const all = [rev('rev-1', { user: 'bob@example.com', reason: 'left' })];
  const v = isRevoked(all, person('bob@example.com'), tokenAt(T + 3600_000));
  t.equal(v?.revocation.id, 'rev-1');
  t.equal(v?.message, 'your access was revoked at 2026-11-27T10:00:00.000Z (reason: left)');
  t.equal(isRevoked(all, person('Bob@example.com'), tokenAt(T)), undefined, 'exact names only');
  t.equal(isRevoked(all, person('alice@example.com', ['bob@example.com']), tokenAt(T)), undefined, 'a user revocation is not a group one');
});

t.test('issuedBefore refuses tokens issued before it, accepts those after, refuses those without iat', async (t) => {
  const all = [rev('rev-2', { user: 'carol', issuedBefore: new Date(T).toISOString(), reason: 'laptop stolen' })];
  t.match(isRevoked(all, person('carol'), tokenAt(T - 1000))?.message, /for tokens issued before 2026-11-27T09:00:00.000Z \(reason: laptop stolen\); your token was issued at 2026-11-27T08:59:59.000Z: log in again/);
  t.equal(isRevoked(all, person('carol'), tokenAt(T)), undefined, 'issued at the bound: accepted');
  t.equal(isRevoked(all, person('carol'), tokenAt(T + 1000)), undefined, 'a fresh login: accepted');
  t.match(isRevoked(all, person('carol'), tokenAt(undefined))?.message, /no iat/, 'no iat: refused');
});

t.test('a group revocation denies every member; the oldest match is named; the index gives the same answers', async (t) => {
  const all = [
    rev('rev-b', { group: 'contractors', createdAt: '2026-11-27T11:00:00.000Z' }),
    rev('rev-a', { user: 'dave', createdAt: '2026-11-27T10:30:00.000Z' }),
    rev('rev-c', { group: 'dev', issuedBefore: new Date(T).toISOString() }),
  ];
  const index = createRevocationIndex(all);
  for (const source of [all, index]) {
    t.equal(isRevoked(source, person('dave', ['contractors']), tokenAt(T))?.revocation.id, 'rev-a', 'two match: the older');
    t.equal(isRevoked(source, person('erin', ['contractors']), tokenAt(T))?.revocation.id, 'rev-b');
    t.match(isRevoked(source, person('erin', ['contractors']), tokenAt(T))?.message, /access of group contractors was revoked/);
    t.equal(isRevoked(source, person('erin', ['dev']), tokenAt(T + 1000)), undefined, 'a group revocation with issuedBefore: a fresh token is fine');
    t.equal(isRevoked(source, person('erin', ['dev']), tokenAt(T - 1000))?.revocation.id, 'rev-c');
    t.equal(isRevoked(source, person('frank', ['ops']), tokenAt(T)), undefined, 'no match');
  }
  t.equal(isRevoked([], person('dave'), tokenAt(T)), undefined, 'nothing revoked');
});
