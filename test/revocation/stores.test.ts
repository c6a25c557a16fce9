/**
 * The revocation stores (src/revocation/stores.ts on src/store/): the Kubernetes store against the
 * recording fake API server serving the Revocation resource over real TLS, and the file store with two
 * stores on one file — in both, two stores play two kubegate replicas: a revocation created on one is seen
 * by the other (the Kubernetes store within a second), a deletion too, an administrator's `kubectl delete`
 * too; a duplicate is a conflict; every call is kubegate's own (its credential, no Impersonate-*); an
 * object kubegate cannot read revokes nothing and is logged.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '../../src/log/logger.js';
import { createKubeRevocationStore } from '../../src/revocation/kube-store.js';
import { createFileRevocationStore, fromResource, toResource, type RevocationStore } from '../../src/revocation/stores.js';
import { REVOCATION_API_GROUP, REVOCATION_API_VERSION, REVOCATION_KIND, REVOCATION_PLURAL, type Revocation } from '../../src/revocation/types.js';
import { KubegateError } from '../../src/errors/errors.js';
import { startFakeApiServer } from '../support/fake-apiserver.js';
import { createFakeElevations } from '../support/fake-elevations.js';
import { kubeconfigYaml } from '../support/harness.js';
import { createPki } from '../support/pki.js';
import { eventually, within } from '../support/wait.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];
const TOKEN = 'kubegate-revocation-store-token-0123456789';
const NAMESPACE = 'kubegate';
/** Another replica must see a revocation within a second (the requirement): a failure cap, not a sleep. */
const PROPAGATION_CAP_MS = 1000;

let seq = 0;
const sample = (over: Partial<Revocation> = {}): Revocation => ({
  id: `rev-${process.pid}-${++seq}`,
  user: 'bob@example.com',
  reason: 'left the company',
  createdBy: 'sam@example.com',
  createdAt: new Date().toISOString(),
  ...over,
});
const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof KubegateError ? err.code : String(err);
  }
};
const has = (store: RevocationStore, id: string) => (store.snapshot().some((r) => r.id === id) ? true : undefined);
const hasNot = (store: RevocationStore, id: string) => (store.snapshot().some((r) => r.id === id) ? undefined : true);

interface Pair {
  a: RevocationStore;
  b: RevocationStore;
  removeExternally(id: string): void;
  putExternally(object: unknown): void;
  problems(): string[];
}

function contract(t: Test, open: (t: Test) => Promise<Pair>) {
  t.test('created on one replica, seen by the other; deleted likewise', async (t) => {
    const { a, b, problems } = await open(t);
    const seen: string[] = [];
    b.onChange((e) => seen.push(e.type === 'upsert' ? `upsert ${e.item.id}` : `delete ${e.id}`));
    const r = await a.create(sample({ issuedBefore: '2026-11-27T09:00:00.000Z' }));
    t.ok(r.resourceVersion, 'the stored copy carries its version');
    t.ok(has(a, r.id), 'the writer sees its write at once');
    await eventually('b to see the revocation', () => has(b, r.id), PROPAGATION_CAP_MS);
    t.same(b.snapshot().find((x) => x.id === r.id), r, 'the same revocation, field for field');
    t.equal(await codeOf(a.create(sample({ id: r.id }))), 'REVOCATION_CONFLICT', 'a duplicate id is a conflict');
    t.equal(await b.delete(r.id), true, 'deleted on b');
    await eventually('a to see the deletion', () => hasNot(a, r.id), PROPAGATION_CAP_MS);
    t.equal(await a.delete(r.id), false, 'deleting what is gone: false');
    t.same(seen, [`upsert ${r.id}`, `delete ${r.id}`]);
    t.same(problems(), []);
  });

  t.test('an administrator deleting one lifts it everywhere; an unreadable one revokes nothing', async (t) => {
    const { a, b, removeExternally, putExternally } = await open(t);
    const r = await a.create(sample({ group: 'contractors', user: undefined }));
    await eventually('b to see it', () => has(b, r.id), PROPAGATION_CAP_MS);
    removeExternally(r.id);
    await eventually('a to see the deletion', () => hasNot(a, r.id), PROPAGATION_CAP_MS);
    await eventually('b to see the deletion', () => hasNot(b, r.id), PROPAGATION_CAP_MS);
    putExternally({ id: 'rev-both', user: 'x', group: 'y', reason: 'r', createdBy: 'c', createdAt: new Date().toISOString() });
    const marker = await a.create(sample());
    await eventually('b to see the marker written after the bad entry', () => has(b, marker.id), PROPAGATION_CAP_MS);
    t.notOk(has(b, 'rev-both'), 'an entry with both user and group is ignored');
  });
}

t.test('the Kubernetes store, two replicas on one API server', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const revocations = createFakeElevations({ namespace: NAMESPACE, resource: { group: REVOCATION_API_GROUP, version: REVOCATION_API_VERSION, kind: REVOCATION_KIND, plural: REVOCATION_PLURAL } });
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: TOKEN });
  t.teardown(() => fake.close());
  revocations.install(fake);
  t.equal(revocations.basePath, '/apis/kubegate.io/v1alpha1/namespaces/kubegate/revocations');
  const kc = () => {
    const k = new KubeConfig();
    k.loadFromString(kubeconfigYaml(fake.url, pki.caFile, TOKEN));
    return k;
  };
  contract(t, async (t) => {
    const a = createKubeRevocationStore({ kubeConfig: kc(), namespace: NAMESPACE, log: silentLogger() });
    const b = createKubeRevocationStore({ kubeConfig: kc(), namespace: NAMESPACE, log: silentLogger() });
    t.teardown(() => (a.close(), b.close()));
    await within(Promise.all([a.ready(), b.ready()]), 5000, 'both stores ready');
    return {
      a,
      b,
      removeExternally: (id) => void revocations.remove(id),
      putExternally: (o) => {
        const r = o as Revocation;
        revocations.put({ apiVersion: 'kubegate.io/v1alpha1', kind: 'Revocation', metadata: { name: r.id }, spec: { user: r.user, group: r.group, reason: r.reason, createdBy: r.createdBy, createdAt: r.createdAt } } as { metadata: { name: string } });
      },
      problems: () => [...fake.violations, ...fake.requests.filter((q) => q.rawHeaders.some(([n]) => /^impersonate-/i.test(n))).map((q) => `${q.method} ${q.url}: Impersonate-*`)],
    };
  });

  t.test('the mapping: everything is spec; one round trip; bad objects named', async (t) => {
    const r: Revocation = { ...sample({ issuedBefore: '2026-11-27T09:00:00.000Z' }), resourceVersion: '7' };
    const res = toResource(r, NAMESPACE);
    t.same(res.metadata, { name: r.id, namespace: NAMESPACE, resourceVersion: '7' });
    t.same(res.spec, { user: r.user, issuedBefore: r.issuedBefore, reason: r.reason, createdBy: r.createdBy, createdAt: r.createdAt });
    t.same(fromResource(res), { item: r });
    t.same(fromResource({ ...res, spec: { ...res.spec, group: 'g' } }), { problem: 'spec: exactly one of user and group must be set' });
    t.same(fromResource({ ...res, spec: { ...res.spec, issuedBefore: 'soon' } }), { problem: 'spec: issuedBefore is not a time' });
  });

  t.test('an API server that does not serve the resource: unavailable, naming it', async (t) => {
    const other = await startFakeApiServer({ serving: pki.server(), expectedToken: TOKEN });
    t.teardown(() => other.close());
    const k = new KubeConfig();
    k.loadFromString(kubeconfigYaml(other.url, pki.caFile, TOKEN));
    const store = createKubeRevocationStore({ kubeConfig: k, namespace: NAMESPACE, log: silentLogger(), reconnect: { initialMs: 50, maxMs: 100 } });
    t.teardown(() => store.close());
    try {
      await store.create(sample());
      t.fail('created without a CRD');
    } catch (err) {
      t.equal((err as KubegateError).code, 'REVOCATION_STORE_UNAVAILABLE');
      t.match((err as Error).message, /revocations\.kubegate\.io/, 'the message names the resource');
    }
  });
});

t.test('the file store, two processes\' stores on one file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-revocation-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  contract(t, async (t) => {
    const path = join(dir, `revocations-${++n}.json`);
    const a = createFileRevocationStore({ path, log: silentLogger(), pollMs: 20 });
    const b = createFileRevocationStore({ path, log: silentLogger(), pollMs: 20 });
    t.teardown(() => (a.close(), b.close()));
    await Promise.all([a.ready(), b.ready()]);
    const edit = (change: (items: unknown[]) => unknown[]) => {
      const content = JSON.parse(readFileSync(path, 'utf8')) as { items: unknown[]; revision: number };
      writeFileSync(path, JSON.stringify({ ...content, revision: content.revision + 1, items: change(content.items) }));
    };
    return {
      a,
      b,
      removeExternally: (id) => edit((items) => items.filter((i) => (i as Revocation).id !== id)),
      putExternally: (o) => edit((items) => [...items, o]),
      problems: () => [],
    };
  });
  t.test('the file says what it is', async (t) => {
    const path = join(dir, 'kind.json');
    const store = createFileRevocationStore({ path, log: silentLogger() });
    t.teardown(() => store.close());
    await store.ready();
    await store.create(sample());
    t.match(JSON.parse(readFileSync(path, 'utf8')), { apiVersion: 'kubegate.io/v1alpha1', kind: 'RevocationFile', revision: 1 });
  });
});
