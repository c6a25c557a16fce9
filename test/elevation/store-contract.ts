/**
 * The ElevationStore contract (src/elevation/types.ts), run against both implementations
 * (kube-store.test.ts, file-store.test.ts): two stores on one backing play two kubegate replicas.
 */
import type t from 'tap';
import { KubegateError } from '../../src/errors/errors.js';
import type { Elevation, ElevationEvent, ElevationStore } from '../../src/elevation/types.js';
import { eventually, within } from '../support/wait.js';

export type Test = Parameters<Parameters<typeof t.test>[0]>[0];

export interface ContractFixture {
  /** Two replicas' stores on one backing, both ready. */
  a: ElevationStore;
  b: ElevationStore;
  /** Delete an elevation behind the stores' back (an administrator: `kubectl delete`, editing the file). */
  removeExternally(id: string): Promise<void>;
  /** Checks after each test (e.g. the fake API server's violations); an empty list when all is well. */
  problems(): string[];
  close(): Promise<void>;
}

export interface ContractOptions {
  /** How long another replica may take to see a change: a failure cap, not a sleep. */
  propagationCapMs: number;
}

let seq = 0;
/** A well-formed Pending elevation with a fresh id. */
export function sample(overrides: Partial<Elevation> = {}): Elevation {
  const now = new Date();
  return {
    id: `elev-${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`,
    requester: 'alice@example.com',
    groups: ['oncall-admins'],
    durationSeconds: 3600,
    reason: 'INC-1234: database failover',
    rule: 'oncall',
    phase: 'Pending',
    createdAt: now.toISOString(),
    pendingExpiresAt: new Date(now.getTime() + 15 * 60_000).toISOString(),
    ...overrides,
  };
}

/** Resolves with the error code a promise rejects with (fails the test if it resolves). */
export async function rejectsWithCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof KubegateError ? err.code : `not a KubegateError: ${String(err)}`;
  }
  return 'resolved';
}

const findIn = (store: ElevationStore, id: string) => store.snapshot().find((e) => e.id === id);

export function elevationStoreContract(t: Test, open: () => Promise<ContractFixture>, opts: ContractOptions): void {
  const withFixture = (name: string, body: (t: Test, f: ContractFixture) => Promise<void>) =>
    t.test(name, async (t) => {
      const f = await open();
      t.teardown(() => f.close());
      await body(t, f);
      t.same(f.problems(), [], 'no problems recorded by the backing');
    });

  withFixture('create, get and the local view', async (t, f) => {
    const events: ElevationEvent[] = [];
    f.a.onChange((e) => events.push(e));
    const asked = sample();
    const created = await f.a.create(asked);
    t.ok(created.resourceVersion, 'the created copy carries a resourceVersion');
    t.same({ ...created, resourceVersion: undefined }, { ...asked, resourceVersion: undefined }, 'stored as asked');
    // Own writes are in the writer's view when create resolves: no waiting for the watch or a poll.
    t.same(findIn(f.a, asked.id), created, 'in the writer\'s snapshot at once');
    t.same(events, [{ type: 'upsert', elevation: created }], 'one upsert event for the own write, before create resolved');
    t.same(await f.a.get(asked.id), created, 'get reads it back');
    t.same(await f.b.get(asked.id), created, 'another replica\'s get reads it too');
    t.equal(await f.a.get('elev-does-not-exist'), undefined, 'get of an unknown id is undefined');

    t.equal(await rejectsWithCode(f.b.create({ ...asked, reason: 'again' })), 'ELEVATION_CONFLICT', 'creating an existing id is a conflict');
    t.equal(await rejectsWithCode(f.a.update({ ...sample(), resourceVersion: '1' })), 'ELEVATION_NOT_FOUND', 'updating an unknown id');
    await t.rejects(f.a.update({ ...created, resourceVersion: undefined }), TypeError, 'update without a resourceVersion is a caller\'s mistake');

    const snap = f.a.snapshot();
    t.equal(f.a.snapshot(), snap, 'the snapshot is reused until something changes');
    t.throws(() => (snap as Elevation[]).push(sample()), TypeError, 'the snapshot is frozen');
    t.throws(() => (snap[0]!.groups as string[]).push('cluster-admins'), TypeError, 'its elevations are frozen too');
    created.groups.push('mutated-by-caller');
    t.notOk(findIn(f.a, asked.id)!.groups.includes('mutated-by-caller'), 'returned copies do not alias the view');
  });

  withFixture('another replica sees create, update and delete', async (t, f) => {
    const seenByB: ElevationEvent[] = [];
    f.b.onChange((e) => seenByB.push(e));
    // Times are from the start of the write call to the other replica's view holding its result.
    let start = Date.now();
    const created = await f.a.create(sample());
    await eventually('b to see a\'s create', () => findIn(f.b, created.id), opts.propagationCapMs);
    t.comment(`create visible on the other replica ${Date.now() - start} ms after the call started`);
    t.same(findIn(f.b, created.id), created);

    const approvedAt = new Date().toISOString();
    const active = { ...created, phase: 'Active' as const, approvedBy: 'bob@example.com', approvedAt, activeAt: approvedAt, expiresAt: new Date(Date.now() + 3600_000).toISOString(), pendingExpiresAt: undefined };
    start = Date.now();
    const updated = await f.b.update(active);
    t.not(updated.resourceVersion, created.resourceVersion, 'a new resourceVersion');
    await eventually('a to see b\'s update', () => (findIn(f.a, created.id)?.phase === 'Active' ? true : undefined), opts.propagationCapMs);
    t.comment(`update visible on the other replica ${Date.now() - start} ms after the call started`);
    t.same(findIn(f.a, created.id), updated, 'a holds b\'s version');
    t.equal(findIn(f.a, created.id)!.pendingExpiresAt, undefined, 'a field cleared by the update is gone');

    start = Date.now();
    await f.removeExternally(created.id);
    await eventually('both to drop it', () => (!findIn(f.a, created.id) && !findIn(f.b, created.id) ? true : undefined), opts.propagationCapMs);
    t.comment(`external delete visible on both replicas after ${Date.now() - start} ms`);
    t.same(
      seenByB.map((e) => (e.type === 'delete' ? `delete ${e.id}` : `upsert ${e.elevation.id} ${e.elevation.phase}`)),
      [`upsert ${created.id} Pending`, `upsert ${created.id} Active`, `delete ${created.id}`],
      'b saw each change once, in order',
    );
    t.equal(await f.a.get(created.id), undefined, 'get agrees it is gone');
  });

  withFixture('racing updates of one version: exactly one wins', async (t, f) => {
    const created = await f.a.create(sample());
    await eventually('b to see it', () => findIn(f.b, created.id), opts.propagationCapMs);
    for (let round = 0; round < 5; round++) {
      const [fromA, fromB] = await Promise.all([f.a.get(created.id), f.b.get(created.id)]);
      t.equal(fromA!.resourceVersion, fromB!.resourceVersion, `round ${round}: both replicas read the same version`);
      const results = await Promise.allSettled([
        f.a.update({ ...fromA!, phase: 'Active', approvedBy: 'approver-a@example.com' }),
        f.b.update({ ...fromB!, phase: 'Revoked', revokedBy: 'revoker-b@example.com' }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      t.equal(won.length, 1, `round ${round}: exactly one update wins`);
      t.same(lost.map((r) => (r.reason as KubegateError).code), ['ELEVATION_CONFLICT'], `round ${round}: the other gets ELEVATION_CONFLICT`);
      const winner = (won[0] as PromiseFulfilledResult<Elevation>).value;
      await eventually('both views to hold the winner', () => (findIn(f.a, created.id)?.resourceVersion === winner.resourceVersion && findIn(f.b, created.id)?.resourceVersion === winner.resourceVersion ? true : undefined), opts.propagationCapMs);
      t.same(await f.a.get(created.id), winner, `round ${round}: the store holds the winner`);
    }
  });

  withFixture('a stale resourceVersion is refused after a successful update', async (t, f) => {
    const created = await f.a.create(sample());
    const first = await f.a.update({ ...created, reason: 'INC-1234: updated once' });
    t.equal(await rejectsWithCode(f.a.update({ ...created, reason: 'INC-1234: from the old copy' })), 'ELEVATION_CONFLICT', 'the old version is refused');
    t.same(await f.a.get(created.id), first, 'the refused update changed nothing');
    const second = await f.a.update({ ...first, reason: 'INC-1234: updated twice' });
    t.ok(Number(second.resourceVersion) > Number(first.resourceVersion) && Number(first.resourceVersion) > Number(created.resourceVersion), 'versions of one object increase');
  });

  withFixture('listeners can unsubscribe; a throwing listener does not stop the others', async (t, f) => {
    const got: string[] = [];
    const off = f.a.onChange(() => got.push('first'));
    f.a.onChange(() => {
      throw new Error('listener bug');
    });
    f.a.onChange(() => got.push('third'));
    await within(f.a.create(sample()), opts.propagationCapMs, 'create');
    off();
    await f.a.create(sample());
    t.same(got, ['first', 'third', 'third']);
  });
}
