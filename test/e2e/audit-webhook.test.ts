/**
 * kubegate with an audit webhook, end to end: records reach a loopback HTTPS receiver as EventLists;
 * with --audit-fail-closed, once the receiver has been down beyond the buffer new requests get a 503
 * Status, and they are served again once it is back. Without fail-closed the losses are counted.
 */
import t from 'tap';
import { startHarness } from '../support/harness.js';
import { scrape, value } from '../support/metrics.js';
import { eventually } from '../support/wait.js';
import { startAuditKubegate } from '../audit/audit-kubegate.js';
import { startReceiver } from '../audit/webhook-receiver.js';

t.test('audit webhook through kubegate', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const receiver = await startReceiver(h.pki);
  t.teardown(() => receiver.close());
  const token = await h.issuer.mintIdToken({ sub: 'w', claims: { email: 'webhook@example.com', email_verified: true } });
  const auth: [string, string][] = [['Authorization', `Bearer ${token}`]];
  const webhook = (extra: Record<string, unknown> = {}) => ({ configFile: receiver.kubeconfig(), batchBufferSize: 2, batchMaxSize: 1, batchMaxWaitSeconds: 0.01, initialBackoffSeconds: 0.02, ...extra });

  t.test('fail-closed: 503 while the trail cannot be written, served again once it can', async (t) => {
    receiver.ok = true;
    receiver.items.length = 0;
    const k = await startAuditKubegate(h, { webhook: webhook(), failClosed: true });
    t.teardown(() => k.close());
    const ok = await k.send('/version', { headers: auth });
    t.equal(ok.status, 200);
    await receiver.until(() => receiver.items.some((e) => e.auditID === ok.headers['audit-id']), 'the record at the receiver');
    receiver.ok = false;
    // Two records fill the buffer of 2 while the receiver fails; the third finds it full.
    const served: number[] = [];
    for (let i = 0; i < 3; i++) served.push((await k.send(`/version?while-down=${i}`, { headers: auth })).status);
    t.same(served, [200, 200, 200], 'served while the buffer had room (the third record is the one lost)');
    // A record is written as its request settles, just after the response: wait until the third is lost.
    await eventually('the third record dropped', async () => ((value(await scrape(k.kubegate.metricsUrl!), 'kubegate_audit_dropped_records_total{backend="webhook"}') ?? 0) >= 1 ? true : undefined), 15_000);
    const refused = await k.send('/api/v1/namespaces/default/pods', { headers: auth });
    t.equal(refused.status, 503, 'refused: the audit trail is losing records');
    t.match(JSON.parse(refused.body), { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: /audit trail/ });
    t.notOk(h.fake.requests.some((q) => q.all('audit-id')[0] === refused.headers['audit-id']), 'nothing forwarded');
    const refusedRecord = await eventually('the refusal in the log file', () => k.records().find((e) => e.auditID === refused.headers['audit-id']), 15_000).catch(() => undefined);
    t.equal(refusedRecord?.annotations?.['kubegate.io/error'], 'AUDIT_FAILING', 'the refusal is in the audit log file');
    receiver.ok = true;
    await eventually('the trail to recover', () => (k.logs.some((l) => l.includes('audit backend healthy again')) ? true : undefined), 15_000);
    const again = await k.send('/version?after=1', { headers: auth });
    t.equal(again.status, 200, 'served again');
    await receiver.until(() => receiver.items.some((e) => e.auditID === again.headers['audit-id']), 'the new record at the receiver');
    const delivered = receiver.items.map((e) => e.requestURI);
    t.ok(delivered.includes('/version?while-down=0') && delivered.includes('/version?while-down=1'), 'the buffered records arrived after the outage');
    t.notOk(delivered.includes('/version?while-down=2'), 'the one beyond the buffer was dropped');
    const text = await scrape(k.kubegate.metricsUrl!);
    t.equal(value(text, 'kubegate_audit_dropped_records_total{backend="webhook"}'), 2, 'dropped and counted: the third request\'s record and the refused one\'s');
    t.equal(value(text, 'kubegate_audit_backend_healthy{backend="webhook"}'), 1);
    t.ok(k.logs.some((l) => l.includes('audit records dropped')), 'and logged');
  });

  t.test('default (not fail-closed): served throughout, losses counted', async (t) => {
    receiver.ok = false;
    const k = await startAuditKubegate(h, { webhook: webhook() });
    t.teardown(() => k.close());
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await k.send(`/version?open=${i}`, { headers: auth })).status);
    t.same(statuses, [200, 200, 200, 200, 200]);
    const text = await scrape(k.kubegate.metricsUrl!);
    t.equal(value(text, 'kubegate_audit_dropped_records_total{backend="webhook"}'), 3, '5 records, a buffer of 2');
    t.equal(value(text, 'kubegate_audit_backend_healthy{backend="webhook"}'), 0);
    // The file is written as records settle (within a few seconds), not before the response: wait for it.
    const opened = () => k.records().filter((e) => e.requestURI.startsWith('/version?open=')).length;
    await eventually('every record in the log file', () => (opened() === 5 ? true : undefined), 15_000).catch(() => undefined);
    t.equal(opened(), 5, 'the log file still has every record');
    receiver.ok = true;
  });
});
