/**
 * The audit log FILE failing, end to end through the real listener. The log path is a symlink to /dev/full
 * (Linux): the file cannot be written (rotating-file-stream refuses a non-file; a regular file on a full disk
 * fails the same way once opened). kubegate reports the backend unhealthy, keeps the records in memory and
 * reopens the path about every second; with --audit-fail-closed new requests get a 503 Status
 * (AUDIT_FAILING) meanwhile. The symlink is then atomically repointed to a real file: kubegate serves again,
 * and the kept records, the refusals' among them, land in the real file as whole JSON lines.
 */
import { existsSync, readFileSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { AuditEvent } from '../../src/audit/event.js';
import { startHarness } from '../support/harness.js';
import { scrape, value } from '../support/metrics.js';
import { eventually } from '../support/wait.js';
import { startAuditKubegate } from '../audit/audit-kubegate.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const CAP = 20_000;

t.test('audit log file failing through kubegate', { skip: existsSync('/dev/full') ? false : 'needs /dev/full (Linux)' }, async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const token = await h.issuer.mintIdToken({ sub: 'f', claims: { email: 'file@example.com', email_verified: true } });
  const auth: [string, string][] = [['Authorization', `Bearer ${token}`]];
  let n = 0;
  /** A log path that is a symlink to /dev/full, and how to repoint it (atomically) at a real file. */
  const brokenLog = () => {
    const tag = `${process.pid}-${n++}`;
    const link = join(h.pki.dir, `audit-full-${tag}.log`);
    const real = join(h.pki.dir, `audit-real-${tag}.log`);
    symlinkSync('/dev/full', link);
    return {
      link,
      real,
      repair() {
        const tmp = `${link}.new`;
        symlinkSync(real, tmp);
        renameSync(tmp, link);
      },
      lines(): string[] {
        return existsSync(real) ? readFileSync(real, 'utf8').split('\n') : [];
      },
    };
  };
  /** How many times the log said the file cannot be written: one more each failed reopen (about every second). */
  const failures = (logs: string[]) => logs.filter((l) => l.includes('audit log cannot be written')).length;
  const reopenFailed = (logs: string[], after: number) => eventually('a reopen of the audit file to fail', () => (failures(logs) > after ? true : undefined), CAP, 50);
  const healthy = async (url: string) => value(await scrape(url), 'kubegate_audit_backend_healthy{backend="log"}');
  const dropped = async (url: string) => value(await scrape(url), 'kubegate_audit_dropped_records_total{backend="log"}') ?? 0;
  /** Every line of the real file parses as one whole Event; the file ends with a newline. */
  const wholeRecords = (t: Test, lines: string[]): AuditEvent[] => {
    t.equal(lines.at(-1), '', 'the file ends with a newline');
    const events = lines.slice(0, -1).map((l) => JSON.parse(l) as AuditEvent);
    t.ok(events.every((e) => e.kind === 'Event' && typeof e.auditID === 'string'), `${events.length} whole Event lines`);
    return events;
  };

  t.test('fail-closed: 503 AUDIT_FAILING while the file cannot be written, served again once it can', async (t) => {
    const file = brokenLog();
    const k = await startAuditKubegate(h, { logPath: file.link, logMaxSize: 0, failClosed: true });
    t.teardown(() => k.close());
    const metrics = k.kubegate.metricsUrl!;
    // Wait for the condition: a request is refused once the log has failed (nothing passes by waiting).
    let i = 0;
    const refused = await eventually('a 503 while the audit file fails', async () => {
      const r = await k.send(`/api/v1/namespaces/default/pods?probe=${i++}`, { headers: auth });
      return r.status === 503 ? r : undefined;
    }, CAP, 50);
    t.ok(i <= 40, `refused after ${i} request(s)`);
    t.match(JSON.parse(refused.body), { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: /audit trail/ });
    t.equal(await healthy(metrics), 0, 'kubegate_audit_backend_healthy{backend="log"} is 0');
    t.ok(k.logs.some((l) => l.includes('audit log cannot be written')), 'the failure is logged');
    // While it keeps failing (the path is reopened about every second), every new request is refused,
    // across failed reopens too.
    const during: number[] = [];
    for (let j = 0; j < 6; j++) {
      if (j % 2 === 0) await reopenFailed(k.logs, failures(k.logs));
      during.push((await k.send(`/version?down=${j}`, { headers: auth })).status);
    }
    t.same(during, [503, 503, 503, 503, 503, 503], 'refused throughout the outage, across three failed reopens');
    const refusedIds = new Set(h.fake.requests.map((q) => q.all('audit-id')[0]));
    t.notOk(refusedIds.has(String(refused.headers['audit-id'])), 'the refused request was not forwarded');
    t.equal(file.lines().length, 0, 'nothing in the real file yet');

    file.repair();
    const again = await eventually('a 200 once the file is writable again', async () => {
      const r = await k.send('/version?after=1', { headers: auth });
      return r.status === 200 ? r : undefined;
    }, CAP, 50);
    t.equal(await healthy(metrics), 1, 'healthy again');
    t.ok(k.logs.some((l) => l.includes('audit backend healthy again')), 'the recovery is logged');
    const id = String(again.headers['audit-id']);
    const events = await eventually('the new record in the real file', () => {
      const lines = file.lines();
      return lines.some((l) => l.includes(id)) ? lines : undefined;
    }, CAP);
    const records = wholeRecords(t, events);
    const byId = new Map(records.map((e) => [e.auditID, e]));
    t.equal(byId.get(id)?.responseStatus?.code, 200, 'the record of the request after recovery');
    const refusedRecord = byId.get(String(refused.headers['audit-id']));
    t.equal(refusedRecord?.annotations?.['kubegate.io/error'], 'AUDIT_FAILING', 'the refusal kept in memory, then written');
    const downs = records.filter((e) => e.requestURI.startsWith('/version?down='));
    t.equal(downs.length, 6, 'every refusal during the outage was kept and written');
    t.equal(new Set(records.map((e) => e.auditID)).size, records.length, 'no record twice');
    t.equal(await dropped(metrics), 0, 'nothing dropped: a few dozen records fit the 10,000 kept in memory');
  });

  t.test('default (not fail-closed): served throughout, the records kept and written after recovery', async (t) => {
    const file = brokenLog();
    const k = await startAuditKubegate(h, { logPath: file.link, logMaxSize: 0 });
    t.teardown(() => k.close());
    const metrics = k.kubegate.metricsUrl!;
    await eventually('the log backend unhealthy', async () => ((await healthy(metrics)) === 0 ? true : undefined), CAP, 50);
    const statuses: number[] = [];
    for (let j = 0; j < 20; j++) {
      // Across failed reopens of the file: the records kept in memory must survive them.
      if (j % 5 === 0) await reopenFailed(k.logs, failures(k.logs));
      statuses.push((await k.send(`/version?open=${j}`, { headers: auth })).status);
      t.equal(await healthy(metrics), 0, `still reported unhealthy after request ${j}`);
    }
    t.same(statuses, Array(20).fill(200), 'served while the audit file fails');
    t.equal(file.lines().length, 0, 'nothing in the real file yet');

    file.repair();
    await eventually('the log backend healthy again', async () => ((await healthy(metrics)) === 1 ? true : undefined), CAP, 50);
    const lines = await eventually('the kept records in the real file', () => {
      const ls = file.lines();
      return ls.filter((l) => l.includes('/version?open=')).length === 20 ? ls : undefined;
    }, CAP);
    const records = wholeRecords(t, lines);
    const open = records.filter((e) => e.requestURI.startsWith('/version?open='));
    t.same(open.map((e) => e.requestURI), statuses.map((_, j) => `/version?open=${j}`), 'all 20, once each, in order');
    t.equal(await dropped(metrics), 0, 'nothing lost, so nothing counted as dropped');
  });
});
