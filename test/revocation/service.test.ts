/**
 * The revocation service (src/revocation/service.ts) over a real file store: fail closed until the store
 * was read; only admins create, list and delete, and an admin cannot lock themselves out; a new
 * revocation — its own or another replica's — ends the matching requests registered in flight (and only
 * those); a user's revocation ends their elevation grants (GrantService.endAllOf); every event audited.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileElevationStore } from '../../src/elevation/file-store.js';
import { createGrantService } from '../../src/elevation/grants.js';
import { KubegateError } from '../../src/errors/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import type { RevocationEvent } from '../../src/revocation/audit.js';
import { createRevocationService } from '../../src/revocation/service.js';
import { createFileRevocationStore } from '../../src/revocation/stores.js';
import type { RevocationVerdict } from '../../src/revocation/types.js';
import { eventually } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'kubegate-revocation-service-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const NOW = Date.parse('2026-11-27T10:00:00Z');
const admin = { username: 'sam', groups: ['security'], extra: {} };
const bob = { username: 'bob', groups: ['dev'], extra: {} };
const carol = { username: 'carol', groups: ['contractors'], extra: {} };
const fresh = { amr: [], issuedAt: NOW / 1000 };

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

function open(t: Test, path = join(dir, `r-${++n}.json`)) {
  const events: RevocationEvent[] = [];
  const elevations = createFileElevationStore({ path: join(dir, `e-${n}.json`), log: silentLogger() });
  const grants = createGrantService({ store: elevations, policy: { pendingTimeoutSeconds: 900, rules: [{ name: 'debug', requesters: { users: ['bob'], groups: [] }, groups: ['debug'], maxDurationSeconds: 3600, minReasonLength: 1 }] }, onEvent: () => {}, now: () => NOW });
  const service = createRevocationService({ store: createFileRevocationStore({ path, log: silentLogger(), pollMs: 20 }), admins: { users: [], groups: ['security'] }, grants: () => grants, onEvent: (e) => events.push(e), log: silentLogger(), now: () => NOW });
  t.teardown(() => (service.close(), elevations.close()));
  return { service, grants, elevations, events, path };
}

const codeOf = async (p: Promise<unknown> | (() => unknown)) => {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'ok';
  } catch (err) {
    return err instanceof KubegateError ? err.code : String(err);
  }
};

t.test('fail closed until the store was read, then check', async (t) => {
  const { service } = open(t);
  t.equal(await codeOf(() => service.check(bob, fresh)), 'REVOCATION_STORE_UNAVAILABLE', 'before the first read');
  await service.ready();
  t.equal(service.check(bob, fresh), undefined);
});

t.test('admins only; no self-lockout; create, list, delete', async (t) => {
  const { service, events } = open(t);
  await service.ready();
  t.equal(await codeOf(service.create(bob, fresh, { user: 'carol', reason: 'x' })), 'REVOCATION_FORBIDDEN');
  t.equal(await codeOf(() => service.list(bob)), 'REVOCATION_FORBIDDEN');
  t.equal(await codeOf(service.create(admin, fresh, { group: 'security', reason: 'x' })), 'REVOCATION_INVALID', 'would revoke the admin');
  t.equal(await codeOf(service.create(admin, fresh, { user: 'carol', issuedBefore: 'tomorrow', reason: 'x' })), 'REVOCATION_INVALID');
  const { revocation } = await service.create(admin, fresh, { user: 'carol', issuedBefore: 'now', reason: ' stolen ' });
  t.match(revocation, { user: 'carol', issuedBefore: new Date(NOW).toISOString(), reason: 'stolen', createdBy: 'sam', createdAt: new Date(NOW).toISOString() }, '"now" is the server\'s clock');
  t.same(service.list(admin).map((r) => r.id), [revocation.id]);
  t.equal(service.check(carol, { amr: [], issuedAt: NOW / 1000 - 1 })?.revocation.id, revocation.id);
  t.equal(await codeOf(service.delete(bob, revocation.id)), 'REVOCATION_FORBIDDEN');
  t.equal((await service.delete(admin, revocation.id)).id, revocation.id);
  t.equal(service.check(carol, { amr: [], issuedAt: NOW / 1000 - 1 }), undefined, 'lifted');
  t.equal(await codeOf(service.delete(admin, revocation.id)), 'REVOCATION_NOT_FOUND');
  t.same(events.map((e) => e.kind), ['refused', 'refused', 'refused', 'revoked', 'refused', 'deleted'], 'every decision audited (a plain 404 is the request\'s own record)');
});

t.test('a revocation ends the matching requests in flight, its own and another replica\'s, and a user\'s grants', async (t) => {
  const a = open(t);
  const b = open(t, a.path);
  await Promise.all([a.service.ready(), b.service.ready()]);
  const grant = await a.grants.request(bob, fresh, { groups: ['debug'], durationSeconds: 600, reason: 'PAGE-1' });
  t.equal(grant.phase, 'Active');
  const ended: Record<string, RevocationVerdict> = {};
  const register = (name: string, user: typeof bob | undefined) => b.service.sessions.register({ user: () => user, session: () => fresh, end: (v) => void (ended[name] = v) });
  register('bob-watch', bob);
  register('carol-watch', carol);
  register('not-yet-authenticated', undefined);
  const unregister = register('bob-finished', bob);
  unregister();
  t.equal(b.service.sessions.size(), 3);
  const created = await a.service.create(admin, fresh, { user: 'bob', reason: 'left' });
  t.same(created.endedElevations, [grant.id], 'bob\'s grant ended');
  t.equal(a.grants.active('bob').length, 0);
  await eventually('replica b to end bob\'s watch', () => ended['bob-watch'], 2000);
  t.same(Object.keys(ended), ['bob-watch'], 'only bob\'s open request, not carol\'s, not an unauthenticated one, not a finished one');
  t.equal(ended['bob-watch']?.revocation.id, created.revocation.id);
  t.equal(b.service.sessions.size(), 2, 'the ended request left the registry');
  t.match(a.events.find((e) => e.kind === 'revoked'), { endedElevations: [grant.id], revocation: { user: 'bob' } });
});
