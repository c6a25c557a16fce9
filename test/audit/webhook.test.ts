/**
 * The audit webhook backend against a loopback HTTPS receiver: the kubeconfig's server, CA and token;
 * EventList batches; a receiver that fails and recovers loses nothing within the buffer; beyond it,
 * records are dropped and counted and the backend is unhealthy until the receiver is back.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createWebhookBackend, loadWebhookTarget, type WebhookSettings } from '../../src/audit/webhook.js';
import { silentLogger } from '../../src/log/logger.js';
import { createPki } from '../support/pki.js';
import { eventually } from '../support/wait.js';
import { startReceiver } from './webhook-receiver.js';

const record = (i: number) => JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', auditID: `id-${i}`, stage: 'ResponseComplete', requestURI: `/r/${i}` });

function recorder() {
  const dropped: number[] = [];
  const health: boolean[] = [];
  return { dropped, health, events: { dropped: (_b: string, n: number) => void dropped.push(n), health: (_b: string, ok: boolean) => void health.push(ok) } };
}

t.test('audit webhook', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const receiver = await startReceiver(pki);
  t.teardown(() => receiver.close());
  const base: Omit<WebhookSettings, 'configFile'> = { mode: 'batch', bufferSize: 10, batchMaxSize: 4, batchMaxWaitMs: 10, initialBackoffMs: 20 };

  t.test('the kubeconfig: server, certificate-authority and token; clear errors', async (t) => {
    const target = await loadWebhookTarget(receiver.kubeconfig('tok-1'));
    t.equal(target.url.href, receiver.url);
    t.ok(target.options.ca, 'the certificate-authority is trusted');
    const bad = (name: string, body: string) => {
      const file = join(pki.dir, name);
      writeFileSync(file, body);
      return file;
    };
    await t.rejects(loadWebhookTarget(join(pki.dir, 'missing')), { code: 'CONFIG_INVALID', message: /audit\.webhook\.configFile \(--audit-webhook-config-file\): .*missing: cannot read/ });
    await t.rejects(loadWebhookTarget(bad('http.kubeconfig', 'apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: "http://127.0.0.1:1"}\ncontexts:\n- name: a\n  context: {cluster: a}\ncurrent-context: a\n')), { message: /must be an https URL/ });
    await t.rejects(loadWebhookTarget(bad('insecure.kubeconfig', `apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: "${receiver.url}", insecure-skip-tls-verify: true}\ncontexts:\n- name: a\n  context: {cluster: a}\ncurrent-context: a\n`)), { message: /insecure-skip-tls-verify is not allowed/ });
  });

  t.test('a receiver that fails, then recovers: nothing lost within the buffer, in order, as EventLists', async (t) => {
    receiver.ok = false;
    const r = recorder();
    const target = await loadWebhookTarget(receiver.kubeconfig('tok-2'));
    const backend = createWebhookBackend({ ...base, configFile: 'x' }, target, r.events, silentLogger());
    const before = receiver.failedAttempts;
    for (let i = 0; i < 8; i++) backend.write(record(i));
    await receiver.until(() => receiver.failedAttempts >= before + 3, 'three failed attempts (retried with backoff)');
    t.ok(backend.healthy(), 'within the buffer: still healthy');
    receiver.ok = true;
    await receiver.until(() => receiver.items.length >= 8, 'every record delivered after recovery');
    t.same(receiver.items.map((e) => e.auditID), Array.from({ length: 8 }, (_, i) => `id-${i}`), 'all 8, once each, in order');
    t.same(r.dropped, [], 'nothing dropped');
    t.equal(receiver.authorizations.at(-1), 'Bearer tok-2', 'the kubeconfig\'s token');
    await backend.close();
  });

  t.test('beyond the buffer: drops counted, unhealthy until the receiver is back', async (t) => {
    receiver.items.length = 0;
    receiver.ok = false;
    const r = recorder();
    const backend = createWebhookBackend({ ...base, configFile: 'x' }, await loadWebhookTarget(receiver.kubeconfig()), r.events, silentLogger());
    for (let i = 0; i < 15; i++) backend.write(record(100 + i));
    t.equal(r.dropped.reduce((a, b) => a + b, 0), 5, '5 records beyond a buffer of 10 dropped');
    t.notOk(backend.healthy());
    t.same(r.health, [false]);
    receiver.ok = true;
    await receiver.until(() => receiver.items.length >= 10, 'the buffered records delivered');
    t.same(receiver.items.map((e) => e.auditID), Array.from({ length: 10 }, (_, i) => `id-${100 + i}`), 'the 10 buffered records, in order');
    await eventually('the backend to see the success', () => (backend.healthy() ? true : undefined), 10_000);
    t.same(r.health, [false, true]);
    await backend.close();
  });

  t.test('blocking mode: each record on its own POST; unhealthy from a failed POST until one succeeds', async (t) => {
    receiver.items.length = 0;
    receiver.ok = true;
    const r = recorder();
    const backend = createWebhookBackend({ ...base, mode: 'blocking', configFile: 'x' }, await loadWebhookTarget(receiver.kubeconfig()), r.events, silentLogger());
    const attempts = receiver.attempts;
    backend.write(record(200));
    backend.write(record(201));
    await receiver.until(() => receiver.items.length >= 2, 'both records');
    t.equal(receiver.attempts - attempts, 2, 'one POST per record');
    receiver.ok = false;
    backend.write(record(202));
    await receiver.until(() => receiver.failedAttempts > 0 && !backend.healthy(), 'the failure to be noticed');
    receiver.ok = true;
    await receiver.until(() => receiver.items.length >= 3, 'the record delivered');
    await eventually('the backend to see the success', () => (backend.healthy() ? true : undefined), 10_000);
    t.same(receiver.items.map((e) => e.auditID), ['id-200', 'id-201', 'id-202']);
    await backend.close();
  });

  t.test('close() sends what is still buffered', async (t) => {
    receiver.items.length = 0;
    const backend = createWebhookBackend({ ...base, batchMaxWaitMs: 3_600_000, batchMaxSize: 100, configFile: 'x' }, await loadWebhookTarget(receiver.kubeconfig()), recorder().events, silentLogger());
    for (let i = 0; i < 3; i++) backend.write(record(300 + i));
    t.equal(receiver.items.length, 0, 'a partial batch waits');
    await backend.close();
    t.same(receiver.items.map((e) => e.auditID), ['id-300', 'id-301', 'id-302'], 'flushed at close');
  });
});
