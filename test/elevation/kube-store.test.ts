/**
 * The Kubernetes ElevationStore (src/elevation/kube-store.ts) against the recording fake API server
 * serving the Elevation resource (test/support/fake-elevations.ts), over real TLS: the store contract with
 * two stores on one fake (two replicas), then what only this store has: a watch that breaks or ends and
 * must catch up, 410 Gone and a relist, the API server down and back, refusals, hung requests, objects
 * edited by hand — and that every call is made as kubegate itself (its credential, no Impersonate-*).
 */
import t from 'tap';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeElevationStore, fromResource, toResource, type KubeElevationStoreOptions } from '../../src/elevation/kube-store.js';
import type { Elevation, ElevationStore } from '../../src/elevation/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { startFakeApiServer, type FakeApiServer } from '../support/fake-apiserver.js';
import { createFakeElevations, type FakeElevations } from '../support/fake-elevations.js';
import { kubeconfigYaml } from '../support/harness.js';
import { captureLogger } from '../support/logs.js';
import { createPki } from '../support/pki.js';
import { eventually, within } from '../support/wait.js';
import { elevationStoreContract, rejectsWithCode, sample, type Test } from './store-contract.js';

const TOKEN = 'kubegate-elevation-store-token-0123456789';
const NAMESPACE = 'kubegate';
/** Another replica must see a change within a second (the requirement); the watch makes it milliseconds. */
const PROPAGATION_CAP_MS = 1000;

const pki = createPki();
t.teardown(() => pki.cleanup());
const serving = pki.server();

function kubeConfigFor(url: string, token = TOKEN): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigYaml(url, pki.caFile, token));
  return kc;
}

interface Setup {
  fake: FakeApiServer;
  elevations: FakeElevations;
  open(opts?: Partial<KubeElevationStoreOptions> & { token?: string }): Promise<ElevationStore>;
  /** Stop the fake (connections cut) and start a new one on the same port with the same objects. */
  restartLater(): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

async function setup(t: Test): Promise<Setup> {
  const elevations = createFakeElevations({ namespace: NAMESPACE });
  let fake = await startFakeApiServer({ serving, expectedToken: TOKEN });
  elevations.install(fake);
  const stores: ElevationStore[] = [];
  const s: Setup = {
    get fake() {
      return fake;
    },
    elevations,
    async open(opts = {}) {
      const store = createKubeElevationStore({ kubeConfig: kubeConfigFor(fake.url, opts.token), namespace: NAMESPACE, log: silentLogger(), ...opts });
      stores.push(store);
      return store;
    },
    async restartLater() {
      const port = fake.port;
      await fake.close();
      return async () => {
        fake = await startFakeApiServer({ serving, expectedToken: TOKEN, port });
        elevations.install(fake);
      };
    },
    async close() {
      for (const store of stores) store.close();
      await eventually('every watch to be closed by its store', () => (elevations.openWatches === 0 ? true : undefined), 2000);
      await fake.close();
    },
  };
  t.teardown(() => s.close());
  return s;
}

/** Only the requests the stores made, and what broke kubegate's promises in them. */
function ownCallProblems(fake: FakeApiServer): string[] {
  const problems = [...fake.violations];
  for (const r of fake.requests) {
    if (r.rawHeaders.some(([n]) => /^impersonate-/i.test(n))) problems.push(`${r.method} ${r.url}: carried Impersonate-*`);
    if (!r.credentialOk) problems.push(`${r.method} ${r.url}: without kubegate's credential`);
  }
  return problems;
}

const findIn = (store: ElevationStore, id: string) => store.snapshot().find((e) => e.id === id);

t.test('the store contract, two replicas on one API server', async (t) => {
  elevationStoreContract(
    t,
    async () => {
      const s = await setup(t);
      const a = await s.open();
      const b = await s.open();
      await within(Promise.all([a.ready(), b.ready()]), 5000, 'both stores ready');
      return {
        a,
        b,
        removeExternally: async (id) => void s.elevations.remove(id),
        problems: () => ownCallProblems(s.fake),
        close: () => s.close(),
      };
    },
    { propagationCapMs: PROPAGATION_CAP_MS },
  );
});

t.test('the resource mapping: spec is what was asked, status the lifecycle; one round trip', async (t) => {
  const e: Elevation = { ...sample({ phase: 'Active', approvedBy: 'bob', approvedAt: '2026-01-01T00:00:00.000Z', activeAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-01T01:00:00.000Z' }), resourceVersion: '42' };
  const r = toResource(e, NAMESPACE);
  t.same(r.metadata, { name: e.id, namespace: NAMESPACE, resourceVersion: '42' });
  t.same(r.spec, { requester: e.requester, groups: e.groups, durationSeconds: 3600, reason: e.reason, rule: 'oncall' });
  t.same(Object.keys(r.status).sort(), ['activeAt', 'approvedAt', 'approvedBy', 'createdAt', 'expiresAt', 'pendingExpiresAt', 'phase']);
  t.same(fromResource(r), { elevation: e });
  t.same(fromResource({ ...r, spec: { ...r.spec, groups: 'oncall-admins' } }), { problem: 'spec.groups is not a list of strings' });
  t.same(fromResource({ ...r, status: { ...r.status, phase: 'Approved' } }), { problem: 'status.phase is not a known phase' });
  t.same(fromResource({ metadata: { name: 'x' } }), { problem: 'spec missing' });
});

t.test('a broken watch reconnects and catches up, including changes made while disconnected', async (t) => {
  const s = await setup(t);
  const a = await s.open();
  const b = await s.open();
  await Promise.all([a.ready(), b.ready()]);
  const first = await a.create(sample());
  await eventually('b to see it', () => findIn(b, first.id), PROPAGATION_CAP_MS);
  const watchesBefore = s.elevations.watchRequests;

  s.elevations.cutWatches();
  t.equal(s.elevations.openWatches, 0, 'no watch is open now');
  // While nobody watches: an administrator's change, and a write by replica a.
  const adminRv = s.elevations.put(toResource({ ...first, resourceVersion: undefined, phase: 'Revoked', revokedBy: 'admin', revokedAt: new Date().toISOString() }, NAMESPACE));
  const second = await a.create(sample({ requester: 'carol@example.com' }));
  t.equal(s.elevations.openWatches, 0, 'both changes were made while disconnected');
  t.ok(findIn(a, second.id), 'the writer has its own write at once, watch or not');

  const start = Date.now();
  await eventually('b to catch up', () => (findIn(b, first.id)?.resourceVersion === adminRv && findIn(b, second.id) ? true : undefined), 5000);
  await eventually('a to catch up', () => (findIn(a, first.id)?.phase === 'Revoked' ? true : undefined), 5000);
  t.comment(`caught up ${Date.now() - start} ms after the cut (reconnect backoff 250 ms ±20 %)`);
  await eventually('both watching again', () => (s.elevations.openWatches === 2 ? true : undefined), 5000);
  t.ok(s.elevations.watchRequests >= watchesBefore + 2, 'both stores opened a new watch');

  const third = await b.create(sample());
  await eventually('a to see a change made after the reconnect', () => findIn(a, third.id), PROPAGATION_CAP_MS);
  t.same(ownCallProblems(s.fake), []);
});

t.test('a watch ended by the server resumes; with the history compacted (410 Gone) the store relists', async (t) => {
  const s = await setup(t);
  const { log, lines } = captureLogger();
  const a = await s.open({ log });
  await a.ready();
  const kept = await a.create(sample());
  const dropped = await a.create(sample());
  const lists = s.elevations.listRequests;

  // The API server ends the watch (its timeout) and, before the store is back, things change and the
  // history it would resume from is compacted away.
  s.elevations.endWatches();
  s.elevations.remove(dropped.id);
  const changedRv = s.elevations.put(toResource({ ...kept, resourceVersion: undefined, reason: 'edited by an administrator' }, NAMESPACE));
  s.elevations.compact();

  await eventually('the store to relist and catch up', () => (findIn(a, kept.id)?.resourceVersion === changedRv && !findIn(a, dropped.id) ? true : undefined), 5000);
  t.ok(s.elevations.listRequests > lists, 'it listed again');
  t.notOk(lines.some((l) => /list\/watch failed/.test(l.message)), 'the informer handled 410 itself: no failure, no backoff');
  await eventually('watching again', () => (s.elevations.openWatches === 1 ? true : undefined), 5000);
  const later = await s.open();
  await later.ready();
  s.elevations.put(toResource(sample({ id: 'elev-after-relist' }), NAMESPACE));
  await eventually('live events after the relist', () => findIn(a, 'elev-after-relist'), PROPAGATION_CAP_MS);

  // Resuming without compaction: no relist.
  const listsBefore = s.elevations.listRequests;
  s.elevations.endWatches();
  s.elevations.put(toResource(sample({ id: 'elev-after-resume' }), NAMESPACE));
  await eventually('the change made between end and resume', () => findIn(a, 'elev-after-resume'), PROPAGATION_CAP_MS);
  t.equal(s.elevations.listRequests, listsBefore, 'a clean end resumes from the last version without listing');
});

t.test('a watch still being opened when the store closes is ended as soon as it opens: at start and on resume', async (t) => {
  const s = await setup(t);

  // At start: the first list is answered, the watch after it is held open-ended by the API server.
  let release = s.elevations.holdWatches();
  const first = await s.open();
  await first.ready();
  await eventually('the first watch request to arrive', () => (s.elevations.watchRequests === 1 ? true : undefined), 5000);
  first.close();
  release();
  t.equal(s.elevations.openWatches, 1, 'the API server answered the watch after the store closed');
  await eventually('the store to end the watch it opened after close', () => (s.elevations.openWatches === 0 ? true : undefined), 5000);

  // On resume: the server ends the watch (its timeout) and the informer is reconnecting when the store closes.
  const second = await s.open();
  await second.ready();
  await eventually('watching', () => (s.elevations.openWatches === 1 ? true : undefined), 5000);
  const requests = s.elevations.watchRequests;
  release = s.elevations.holdWatches();
  s.elevations.endWatches();
  await eventually('the resuming watch request to arrive', () => (s.elevations.watchRequests === requests + 1 ? true : undefined), 5000);
  second.close();
  release();
  t.equal(s.elevations.openWatches, 1, 'the API server answered the resumed watch after the store closed');
  await eventually('the store to end the resumed watch it opened after close', () => (s.elevations.openWatches === 0 ? true : undefined), 5000);
  t.same(ownCallProblems(s.fake), []);
});

t.test('API server down: writes throw ELEVATION_STORE_UNAVAILABLE, the view stays; then recovery', async (t) => {
  const s = await setup(t);
  const { log, lines } = captureLogger();
  const a = await s.open({ log });
  const b = await s.open();
  await Promise.all([a.ready(), b.ready()]);
  const held = await a.create(sample());
  await eventually('b to see it', () => findIn(b, held.id), PROPAGATION_CAP_MS);
  const before = a.snapshot();

  const restart = await s.restartLater();
  const downAt = Date.now();
  t.equal(await rejectsWithCode(a.create(sample())), 'ELEVATION_STORE_UNAVAILABLE', 'create while down');
  t.equal(await rejectsWithCode(a.update({ ...held, phase: 'Revoked' })), 'ELEVATION_STORE_UNAVAILABLE', 'update while down');
  t.equal(await rejectsWithCode(a.get(held.id)), 'ELEVATION_STORE_UNAVAILABLE', 'get while down');
  // Stay down for three failed reconnects, so the backoff has grown (250, 500, 1000 ms ±20 %).
  await eventually('three failed reconnects', () => (lines.filter((l) => /list\/watch failed/.test(l.message)).length >= 3 ? true : undefined), 10_000);
  const delays = lines.filter((l) => /list\/watch failed/.test(l.message)).map((l) => l.retryInMs as number);
  t.ok(delays[0]! >= 200 && delays[0]! <= 300 && delays[2]! >= 800 && delays[2]! <= 1200, `the backoff grows: ${delays.join(', ')} ms`);
  t.same(a.snapshot(), before, 'the snapshot keeps the last view');
  t.ok(findIn(b, held.id), 'so does the other replica\'s');

  // While down, an administrator revokes it (the state outlives the server).
  const revokedRv = s.elevations.put(toResource({ ...held, resourceVersion: undefined, phase: 'Revoked', revokedBy: 'admin', revokedAt: new Date().toISOString() }, NAMESPACE));
  await restart();
  const upAt = Date.now();
  await eventually('both stores to see the change made during the outage', () => (findIn(a, held.id)?.resourceVersion === revokedRv && findIn(b, held.id)?.resourceVersion === revokedRv ? true : undefined), 10_000);
  t.comment(`down ${upAt - downAt} ms; views caught up ${Date.now() - upAt} ms after the API server came back (backoff 250 ms doubling to 5 s)`);
  const after = await a.create(sample());
  t.ok(after.resourceVersion, 'writes work again');
  await eventually('b to see a write after recovery', () => findIn(b, after.id), PROPAGATION_CAP_MS);
  t.ok(lines.some((l) => /watching again/.test(l.message)), 'recovery is logged');
  t.notOk(JSON.stringify(lines).includes(TOKEN), 'the token is never logged');
  t.same(ownCallProblems(s.fake), []);
});

t.test('a store started while the API server is down becomes ready when it comes back', async (t) => {
  const s = await setup(t);
  s.elevations.put(toResource(sample({ id: 'elev-existing' }), NAMESPACE));
  const restart = await s.restartLater();
  const { log, lines } = captureLogger();
  const a = await s.open({ log });
  let ready = false;
  void a.ready().then(() => (ready = true));
  await eventually('two failed attempts', () => (lines.filter((l) => /list\/watch failed/.test(l.message)).length >= 2 ? true : undefined), 5000);
  t.equal(ready, false, 'not ready while it could not list');
  t.same(a.snapshot(), [], 'an empty view meanwhile');
  await restart();
  await within(a.ready(), 10_000, 'ready after the API server came back');
  t.ok(findIn(a, 'elev-existing'), 'with the existing elevations');
});

t.test('refusals and hangs are ELEVATION_STORE_UNAVAILABLE; no token in any error', async (t) => {
  const s = await setup(t);
  const wrongToken = 'not-kubegate-token-987654321';
  const refused = await s.open({ token: wrongToken });
  const err = (await refused.create(sample()).then(() => new Error('resolved'), (e: unknown) => e as Error)) as Error & { code?: string };
  t.equal(err.code, 'ELEVATION_STORE_UNAVAILABLE', 'a refused credential (401)');
  t.notOk(`${err.message} ${JSON.stringify((err as { details?: unknown }).details)}`.includes(wrongToken), 'the token is not in the error');
  s.fake.violations.length = 0;
  s.fake.requests.length = 0;

  // The resource is not served (CRD not installed): a 404 that names no object.
  const other = await startFakeApiServer({ serving, expectedToken: TOKEN });
  t.teardown(() => other.close());
  other.ownRoute('POST', `/apis/kubegate.io/v1alpha1/namespaces/${NAMESPACE}/elevations`, (req, res) => {
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'the server could not find the requested resource' }));
  });
  const noCrd = createKubeElevationStore({ kubeConfig: kubeConfigFor(other.url), namespace: NAMESPACE, log: silentLogger() });
  t.teardown(() => noCrd.close());
  t.equal(await rejectsWithCode(noCrd.create(sample())), 'ELEVATION_STORE_UNAVAILABLE', 'a 404 without the object\'s name is not ELEVATION_NOT_FOUND');
  // The CRD's schema refuses the object (e.g. a reason over its 1024 characters).
  other.ownRoute('PUT', `/apis/kubegate.io/v1alpha1/namespaces/${NAMESPACE}/elevations`, (req, res) => {
    req.resume();
    res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Invalid', code: 422, message: 'spec.reason: Too long' }));
  });
  t.equal(await rejectsWithCode(noCrd.update({ ...sample(), resourceVersion: '5' })), 'ELEVATION_INVALID', 'a 422 is ELEVATION_INVALID');

  // An API server that accepts the connection and never answers.
  const hung = createServer({ cert: serving.cert, key: serving.key }, () => {});
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    hung.closeAllConnections();
    hung.close();
  });
  const slow = createKubeElevationStore({ kubeConfig: kubeConfigFor(`https://127.0.0.1:${(hung.address() as AddressInfo).port}`), namespace: NAMESPACE, log: silentLogger(), requestTimeoutMs: 300 });
  t.teardown(() => slow.close());
  const start = Date.now();
  t.equal(await rejectsWithCode(within(slow.update({ ...sample(), resourceVersion: '1' }), 5000, 'the time limit')), 'ELEVATION_STORE_UNAVAILABLE', 'a hung request ends at requestTimeoutMs');
  t.ok(Date.now() - start < 2000, `ended after ${Date.now() - start} ms`);
  t.throws(() => createKubeElevationStore({ kubeConfig: kubeConfigFor(s.fake.url), namespace: 'Not A Namespace', log: silentLogger() }), TypeError);
});

t.test('an object kubegate cannot read grants nothing', async (t) => {
  const s = await setup(t);
  const a = await s.open();
  await a.ready();
  const good = await a.create(sample());
  const broken = toResource({ ...good, resourceVersion: undefined }, NAMESPACE) as unknown as { spec: Record<string, unknown> };
  broken.spec.groups = 'system:masters';
  s.elevations.put(broken as never);
  await eventually('the unreadable object to leave the view', () => (findIn(a, good.id) ? undefined : true), PROPAGATION_CAP_MS);
  const fresh = await s.open();
  await fresh.ready();
  t.notOk(findIn(fresh, good.id), 'not in a listing either');
});

t.test('own calls on the fake: Impersonate-* there is a violation', async (t) => {
  const s = await setup(t);
  const res = await new Promise<{ status: number }>((resolve, reject) => {
    const req = request(`${s.fake.url}${s.elevations.basePath}/elev-x`, { ca: pki.ca, headers: { authorization: `Bearer ${TOKEN}`, 'impersonate-user': 'alice' } }, (r) => {
      r.resume();
      resolve({ status: r.statusCode ?? 0 });
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(res.status, 403);
  t.match(s.fake.violations, [/kubegate's own call carried impersonate-user/]);
  s.fake.violations.length = 0;
});
