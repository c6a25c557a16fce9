/**
 * The grant service's policy and lifecycle with an injected clock (no sleeps), over an in-memory store
 * shared by two service instances (two replicas): requests, the two-person rule, racing approvals, expiry
 * recorded once, pending requests lapsing, visibility. The stores themselves: store-contract tests.
 */
import t from 'tap';
import { createGrantService, type GrantEvent } from '../../src/elevation/grants.js';
import type { Elevation, ElevationStore } from '../../src/elevation/types.js';
import { KubegateError } from '../../src/errors/errors.js';

/** A minimal in-memory ElevationStore with resourceVersion conflicts (a test double, not the product's). */
function memoryStore(): ElevationStore & { writes: number } {
  const items = new Map<string, Elevation>();
  let rv = 0;
  const store = {
    writes: 0,
    ready: async () => {},
    async create(e: Elevation) {
      const saved = { ...e, resourceVersion: String(++rv) };
      items.set(e.id, saved);
      store.writes++;
      return saved;
    },
    async update(e: Elevation) {
      const current = items.get(e.id);
      if (!current) throw new KubegateError('ELEVATION_NOT_FOUND', e.id);
      if (current.resourceVersion !== e.resourceVersion) throw new KubegateError('ELEVATION_CONFLICT', e.id);
      // Yield like a real store does, so racing writers interleave.
      await new Promise((r) => setImmediate(r));
      if (items.get(e.id)!.resourceVersion !== e.resourceVersion) throw new KubegateError('ELEVATION_CONFLICT', e.id);
      const saved = { ...e, resourceVersion: String(++rv) };
      items.set(e.id, saved);
      store.writes++;
      return saved;
    },
    get: async (id: string) => items.get(id),
    snapshot: () => [...items.values()],
    onChange: () => () => {},
    close() {},
  };
  return store;
}

const RULES = [
  { name: 'break-glass', requesters: { users: [], groups: ['sre'] }, groups: ['cluster-admin'], maxDurationSeconds: 1800, minReasonLength: 5, approvers: { users: ['lead@x'], groups: ['leads'] }, mfa: { amr: ['mfa'], acr: [] }, maxAuthAgeSeconds: 600 },
  { name: 'self-serve', requesters: { users: ['bob@x'], groups: [] }, groups: ['debug'], maxDurationSeconds: 600, minReasonLength: 1 },
];
const alice = { username: 'alice@x', groups: ['sre'], extra: {} };
const lead = { username: 'lead@x', groups: [], extra: {} };
const lead2 = { username: 'lead2@x', groups: ['leads'], extra: {} };
const bob = { username: 'bob@x', groups: [], extra: {} };

function services(count: number, now: () => number) {
  const store = memoryStore();
  const events: GrantEvent[] = [];
  let n = 0;
  const all = Array.from({ length: count }, () =>
    createGrantService({ store, policy: { rules: RULES, pendingTimeoutSeconds: 300 }, onEvent: (e) => events.push(e), now, newId: () => `elev-${++n}` }),
  );
  return { store, events, all };
}

t.test('lifecycle with a clock', async (t) => {
  let clock = Date.parse('2026-11-27T10:00:00Z');
  const session = () => ({ amr: ['pwd', 'mfa'], authTime: Math.floor(clock / 1000) - 30 });
  const { events, all, store } = services(2, () => clock);
  const [a, b] = all as [ReturnType<typeof createGrantService>, ReturnType<typeof createGrantService>];

  const pending = await a.request(alice, session(), { groups: ['cluster-admin'], durationSeconds: 900, reason: 'INC-1 failover' });
  t.match(pending, { phase: 'Pending', pendingExpiresAt: new Date(clock + 300_000).toISOString() });
  t.same(a.active('alice@x'), [], 'pending: nothing applies');

  // Two approvers on two replicas at once: one wins, the other sees it already approved.
  const results = await Promise.allSettled([a.approve(lead, pending.id), b.approve(lead2, pending.id)]);
  t.same(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  t.match(loser.reason, { code: 'ELEVATION_STATE' }, 'the losing approval re-read and found it Active');
  t.equal(events.filter((e) => e.kind === 'approved').length, 1, 'approved exactly once');
  t.equal(b.active('alice@x').length, 1, 'the other replica sees the grant');

  clock += 899_999;
  t.equal(a.active('alice@x').length, 1);
  clock += 1;
  t.same(a.active('alice@x'), [], 'expired at expiresAt, before any sweep');
  await Promise.all([a.sweep(), b.sweep()]);
  await Promise.all([a.sweep(), b.sweep()]);
  t.equal(events.filter((e) => e.kind === 'expired').length, 1, 'two replicas sweeping: recorded once');
  t.equal((await store.get(pending.id))?.phase, 'Expired');

  const lapsing = await a.request(alice, session(), { groups: ['cluster-admin'], durationSeconds: 60, reason: 'INC-2 later' });
  clock += 300_000;
  t.equal(a.get(alice, lapsing.id).phase, 'Expired', 'an unapproved request lapses');
  await t.rejects(a.approve(lead, lapsing.id), { code: 'ELEVATION_STATE' }, 'and can no longer be approved');
});

t.test('policy', async (t) => {
  const clock = Date.parse('2026-11-27T10:00:00Z');
  const fresh = { amr: ['mfa'], authTime: clock / 1000 - 10 };
  const { all, events } = services(1, () => clock);
  const s = all[0]!;
  await t.rejects(s.request(bob, fresh, { groups: ['cluster-admin'], durationSeconds: 60, reason: 'x' }), { code: 'ELEVATION_NOT_ELIGIBLE', status: 403 });
  await t.rejects(s.request(alice, fresh, { groups: ['cluster-admin', 'debug'], durationSeconds: 60, reason: 'INC-3 x' }), { code: 'ELEVATION_NOT_ELIGIBLE' }, 'one rule must cover every group');
  await t.rejects(s.request(alice, { amr: ['pwd'], authTime: fresh.authTime }, { groups: ['cluster-admin'], durationSeconds: 60, reason: 'INC-3 x' }), { code: 'ELEVATION_MFA_REQUIRED' });
  await t.rejects(s.request(alice, { amr: ['mfa'] }, { groups: ['cluster-admin'], durationSeconds: 60, reason: 'INC-3 x' }), { code: 'ELEVATION_LOGIN_TOO_OLD' }, 'no auth_time: freshness cannot be proven');
  await t.rejects(s.request(alice, { amr: ['mfa'], authTime: clock / 1000 - 601 }, { groups: ['cluster-admin'], durationSeconds: 60, reason: 'INC-3 x' }), { code: 'ELEVATION_LOGIN_TOO_OLD' });
  await t.rejects(s.request(alice, fresh, { groups: ['cluster-admin'], durationSeconds: 1801, reason: 'INC-3 x' }), { code: 'ELEVATION_INVALID' });
  await t.rejects(s.request(alice, fresh, { groups: ['cluster-admin'], durationSeconds: 60, reason: '    ab   ' }), { code: 'ELEVATION_INVALID' }, 'the reason is measured without surrounding spaces');
  for (const body of [null, [], { groups: [], durationSeconds: 1, reason: 'r' }, { groups: ['debug'], durationSeconds: 1.5, reason: 'r' }, { groups: ['debug'], durationSeconds: 1, reason: 'r', extra: 1 }]) {
    await t.rejects(s.request(bob, fresh, body), { code: 'ELEVATION_INVALID' }, JSON.stringify(body));
  }
  t.equal(events.filter((e) => e.kind === 'refused').length, 12, 'every refusal is an event');
  const active = await s.request(bob, { amr: [] }, { groups: ['debug'], durationSeconds: 60, reason: 'r' });
  t.equal(active.phase, 'Active', 'a rule without approvers grants at once, without MFA when it does not ask for it');
  t.same(s.list(alice), [], 'alice sees nothing of bob\'s');
  t.throws(() => s.get(alice, active.id), { code: 'ELEVATION_NOT_FOUND' });
  await t.rejects(s.revoke(alice, active.id), { code: 'ELEVATION_NOT_FOUND' }, 'nor can she revoke it');
  t.match(await s.revoke(bob, active.id), { phase: 'Revoked', revokedBy: 'bob@x' });
  await t.rejects(s.revoke(bob, active.id), { code: 'ELEVATION_STATE' });
});
