/**
 * Revocation without restart, end to end through the real listener to the recording fake API server:
 * `kubegate revoke` (the real command line, as an administrator would run it) makes a person's next
 * request fail with 401 although their token is cached; --issued-before refuses older tokens and accepts a
 * fresh login; a group revocation; an open `kubectl get pods -w` is closed by the revocation and its audit
 * record says so; an open exec session is closed too; the person's active elevation grant ends; `kubegate revocations list|delete`; and a
 * second kubegate reading the same file sees a revocation (the "every replica" property of the file store).
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/audit/event.js';
import { cleanEnv, kubegate } from '../cli/cli-harness.js';
import { startHarness, type Harness } from '../support/harness.js';
import { deferred, head, rawExchange, spawnKubectl, startExtraKubegate, within } from '../support/streaming.js';
import { eventually } from '../support/wait.js';

const ADMINS = { groups: ['security'] };

interface Api {
  status: number;
  body: Record<string, unknown>;
}

async function api(send: Harness['send'], token: string, method: string, path: string, body?: unknown): Promise<Api> {
  const r = await send(path, { method, headers: [['Authorization', `Bearer ${token}`], ['Content-Type', 'application/json']], ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
}

/** A resource request as the person (the cached path after the first one). */
const pods = (send: Harness['send'], token: string) => api(send, token, 'GET', '/api/v1/namespaces/default/pods');

t.test('revocation without restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-revocation-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const revocationFile = join(dir, 'revocations.json');
  const h = await startHarness({
    config: {
      revocation: { store: { type: 'file', path: revocationFile }, admins: ADMINS },
      elevation: {
        store: { type: 'file', path: join(dir, 'elevations.json') },
        rules: [{ name: 'oncall-debug', requesters: { users: ['bob@example.com'] }, groups: ['oncall-debug'], maxDurationSeconds: 3600, minReasonLength: 3 }],
      },
    },
  });
  t.teardown(() => h.close());
  const now = Math.floor(Date.now() / 1000);
  /** A token signed by the issuer with a chosen `iat` (so --issued-before is tested without waiting). */
  const token = (email: string, groups: string[], iat = now) =>
    h.issuer.signWithProviderKey({ iss: h.issuer.issuer, aud: h.issuer.clientId, sub: email.split('@')[0], email, email_verified: true, groups, iat, exp: now + 3600 });
  const admin = await token('sam@example.com', ['security']);
  const bob = await token('bob@example.com', ['dev']);
  const mallory = await token('mallory@example.com', ['dev']);
  const env = cleanEnv(dir);
  const adminKubeconfig = h.kubeconfigFor(admin);
  const cli = (args: string[], kubeconfig = adminKubeconfig) => kubegate([...args, '--kubeconfig', kubeconfig], env);

  t.test('only revocation admins may revoke; refusals name the field', async (t) => {
    const r = await cli(['revoke', '--user', 'bob@example.com', '--reason', 'test'], h.kubeconfigFor(mallory));
    t.equal(r.code, 1);
    t.match(r.stderr, /only a revocation administrator/);
    const cases: [unknown, RegExp][] = [
      [{ user: 'bob@example.com' }, /reason is required/],
      [{ user: 'bob@example.com', group: 'dev', reason: 'x' }, /exactly one of user and group/],
      [{ user: 'bob@example.com', issuedBefore: 'yesterday', reason: 'x' }, /issuedBefore must be an RFC 3339 time/],
      [{ user: 'bob@example.com', reason: 'x', extra: 1 }, /unknown field extra/],
      [{ user: 'sam@example.com', reason: 'x' }, /would apply to you/],
    ];
    for (const [body, message] of cases) {
      const a = await api(h.send, admin, 'POST', '/kubegate/v1/revocations', body);
      t.equal(a.status, 400, String(message));
      t.match(a.body, { kind: 'Status', message });
    }
    const usage = await cli(['revoke', '--user', 'bob@example.com']);
    t.equal(usage.code, 2, 'a missing --reason is a usage error, before any request');
    t.match(usage.stderr, /--reason TEXT is required/);
  });

  let bobRevocation = '';
  t.test('revoking a user: cached token refused, open watch closed, elevation grant ended', async (t) => {
    // Bob is working: a request (his token is now cached), an elevation grant, an open watch.
    t.equal((await pods(h.send, bob)).status, 200, 'before: accepted');
    const grant = await api(h.send, bob, 'POST', '/kubegate/v1/elevations', { groups: ['oncall-debug'], durationSeconds: 1800, reason: 'PAGE-7' });
    t.equal(grant.status, 201);
    t.match(grant.body, { phase: 'Active' });
    const watchOpened = deferred<{ req: IncomingMessage; res: ServerResponse; closed: Promise<void> }>();
    h.fake.route('GET', '/api/v1/namespaces/default/pods', (req, res) => {
      req.resume();
      const url = new URL(req.url ?? '/', 'https://fake');
      if (url.searchParams.get('watch') !== 'true') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [] }));
      }
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web-1', namespace: 'default', resourceVersion: '11', creationTimestamp: new Date().toISOString() }, spec: { containers: [{ name: 'c', image: 'busybox' }] }, status: { phase: 'Running' } } })}\n`);
      watchOpened.resolve({ req, res, closed: new Promise((resolve) => res.once('close', () => resolve())) });
    });
    const watch = spawnKubectl(h, ['get', 'pods', '--watch', '-o', 'name'], bob);
    await watch.waitForStdout(/pod\/web-1/);
    const upstreamWatch = await within(watchOpened.promise, 15_000, 'the watch to reach the fake');

    const r = await cli(['revoke', '--user', 'bob@example.com', '--reason', 'left the company (HR-12)']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^revoked user:bob@example\.com \(rev-[0-9a-f]+\): every request is refused from now on; ended elevations: elev-/);
    bobRevocation = /\((rev-[0-9a-f]+)\)/.exec(r.stdout)![1]!;

    const exited = await within(watch.exited, 15_000, 'kubectl get pods -w to end');
    t.not(exited.signal, 'SIGKILL', `kubectl left on its own (code ${exited.code})`);
    await within(upstreamWatch.closed, 15_000, 'the upstream watch to be released');
    const refused = await pods(h.send, bob);
    t.equal(refused.status, 401, 'the cached token is refused on the next request');
    t.match(refused.body, { kind: 'Status', reason: 'Unauthorized', message: /your access was revoked at .* \(reason: left the company \(HR-12\)\)/ });
    const viaKubectl = await h.kubectl(['get', 'pods'], bob);
    t.not(viaKubectl.code, 0, 'kubectl fails too');
    t.match(viaKubectl.stderr, /revoked|Unauthorized|must be logged in/);
    t.equal((await pods(h.send, mallory)).status, 200, 'others are not affected');
  });

  t.test('--issued-before refuses older tokens and accepts a fresh login', async (t) => {
    const oldToken = await token('carol@example.com', ['dev'], now - 3600);
    const freshToken = await token('carol@example.com', ['dev'], now);
    t.equal((await pods(h.send, oldToken)).status, 200, 'before: the old token works');
    const before = new Date((now - 60) * 1000).toISOString();
    const r = await cli(['revoke', '--user', 'carol@example.com', '--issued-before', before, '--reason', 'laptop stolen']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /tokens issued before .* are refused; a fresh login is accepted/);
    const refused = await pods(h.send, oldToken);
    t.equal(refused.status, 401);
    t.match(refused.body.message, /issued before .*laptop stolen.*log in again/);
    t.equal((await pods(h.send, freshToken)).status, 200, 'a token issued after the time is accepted');
    const noIat = await h.issuer.signWithProviderKey({ iss: h.issuer.issuer, aud: h.issuer.clientId, sub: 'carol', email: 'carol@example.com', groups: ['dev'], exp: now + 3600 });
    const unknownAge = await pods(h.send, noIat);
    if (unknownAge.status !== 401) t.fail(`a token without iat must be refused (fail closed), got ${unknownAge.status}`);
    else t.match(unknownAge.body.message, /no iat|revoked/);
  });

  t.test('revoking a group refuses every member, and only them', async (t) => {
    const dave = await token('dave@example.com', ['contractors', 'dev']);
    const erin = await token('erin@example.com', ['dev']);
    t.equal((await pods(h.send, dave)).status, 200);
    const r = await cli(['revoke', '--group', 'contractors', '--reason', 'contract ended', '-o', 'json']);
    t.equal(r.code, 0, r.stderr);
    t.match(JSON.parse(r.stdout), { revocation: { group: 'contractors', createdBy: 'sam@example.com' }, endedElevations: [] });
    const refused = await pods(h.send, dave);
    t.equal(refused.status, 401);
    t.match(refused.body.message, /access of group contractors was revoked/);
    t.equal((await pods(h.send, erin)).status, 200, 'a person outside the group is accepted');
  });

  let execRevocation = '';
  t.test('an open exec session (SPDY/3.1 upgrade) is closed by a group revocation', async (t) => {
    const gina = await token('gina@example.com', ['interns']);
    const EXEC = '/api/v1/namespaces/default/pods/hello/exec';
    const upstreamClosed = deferred();
    h.fake.upgradeRoute(EXEC, (_req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n');
      socket.on('data', (c: Buffer) => socket.write(c));
      socket.on('error', () => {});
      socket.once('close', () => upstreamClosed.resolve());
    });
    const session = await rawExchange(h.kubegate.port, h.pki.ca, head([`POST ${EXEC}?command=sh&stdin=true HTTP/1.1`, 'Host: localhost', `Authorization: Bearer ${gina}`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1', 'X-Stream-Protocol-Version: v4.channel.k8s.io']));
    await session.waitFor((r) => r.includes('\r\n\r\n'), 'the 101');
    t.match(session.received().toString('latin1'), /^HTTP\/1\.1 101 /);
    session.socket.write('ping');
    await session.waitFor((r) => r.toString('latin1').endsWith('ping'), 'the echo: the session is open');
    const created = await api(h.send, admin, 'POST', '/kubegate/v1/revocations', { group: 'interns', reason: 'internship over' });
    t.equal(created.status, 201, JSON.stringify(created.body));
    execRevocation = (created.body.revocation as { id: string }).id;
    await within(session.closed, 15_000, 'the session to be closed');
    await within(upstreamClosed.promise, 15_000, 'the upstream session to be closed');
    t.pass('the client and the API server side of the session were closed');
  });

  t.test('kubegate revocations list and delete', async (t) => {
    const list = await cli(['revocations', 'list']);
    t.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    t.match(lines[0], /^ID\s+SUBJECT\s+TOKENS\s+CREATED\s+BY\s+REASON$/);
    t.equal(lines.length, 5, 'four revocations and the header');
    t.match(list.stdout, /user:bob@example\.com\s+all\s/);
    t.match(list.stdout, /user:carol@example\.com\s+issued before /);
    t.match(list.stdout, /group:contractors/);
    const notAdmin = await cli(['revocations', 'list'], h.kubeconfigFor(mallory));
    t.equal(notAdmin.code, 1);
    t.match(notAdmin.stderr, /revocation administrator/);
    const del = await cli(['revocations', 'delete', bobRevocation]);
    t.equal(del.code, 0, del.stderr);
    t.match(del.stdout, `deleted revocation ${bobRevocation} (user:bob@example.com)`);
    t.equal((await pods(h.send, bob)).status, 200, 'bob is accepted again at once');
    const again = await cli(['revocations', 'delete', bobRevocation]);
    t.equal(again.code, 1);
    t.match(again.stderr, /no revocation/);
  });

  t.test('a second kubegate on the same file sees a revocation (every replica)', async (t) => {
    const replica = await startExtraKubegate(h, { revocation: { store: { type: 'file', path: revocationFile }, admins: ADMINS } });
    t.teardown(() => replica.close());
    const frank = await token('frank@example.com', ['dev']);
    t.equal((await pods(replica.send, frank)).status, 200, 'the replica accepts frank');
    const created = await api(h.send, admin, 'POST', '/kubegate/v1/revocations', { user: 'frank@example.com', reason: 'INC-9 credentials leaked' });
    t.equal(created.status, 201, JSON.stringify(created.body));
    await eventually('the replica to refuse frank', async () => ((await pods(replica.send, frank)).status === 401 ? true : undefined), 10_000, 25);
    t.pass('refused by the replica that did not create the revocation');
  });

  t.test('the audit log says what happened', async (t) => {
    const records = await h.stopAndReadAudit();
    const watchRecord = records.find((e: AuditEvent) => e.user.username === 'bob@example.com' && e.requestURI.includes('watch=true') && e.stage === 'ResponseComplete');
    t.match(watchRecord?.annotations, { 'kubegate.io/outcome': 'revoked', 'kubegate.io/revocation-id': bobRevocation, 'kubegate.io/revocation-reason': 'left the company (HR-12)' }, 'the closed watch\'s record says a revocation ended it');
    const refusedRecord = records.find((e) => e.user.username === 'bob@example.com' && e.annotations?.['kubegate.io/error'] === 'AUTHN_REVOKED');
    t.match(refusedRecord, { responseStatus: { code: 401 }, annotations: { 'kubegate.io/revocation-id': bobRevocation, 'kubegate.io/forwarded': 'false' } });
    const events = records.filter((e) => e.annotations?.['kubegate.io/revocation-event'] !== undefined);
    t.match(events.find((e) => e.verb === 'revoked' && e.annotations?.['kubegate.io/revocation-id'] === bobRevocation)?.annotations, { 'kubegate.io/revocation-user': 'bob@example.com', 'kubegate.io/revocation-ended-elevations': /^elev-/ });
    t.ok(events.some((e) => e.verb === 'deleted' && e.annotations?.['kubegate.io/revocation-id'] === bobRevocation), 'the deletion is on record');
    t.ok(events.some((e) => e.verb === 'refused' && e.user.username === 'mallory@example.com'), 'a refused attempt is on record');
    t.ok(records.some((e) => e.annotations?.['kubegate.io/elevation-event'] === 'revoked' && e.user.username === 'sam@example.com'), 'the grant ended by the revocation is on record, by the admin');
    const execRecord = records.find((e) => e.user.username === 'gina@example.com' && e.requestURI.includes('/exec') && e.stage === 'ResponseComplete');
    t.match(execRecord?.annotations, { 'kubegate.io/outcome': 'revoked', 'kubegate.io/revocation-id': execRevocation, 'kubegate.io/upgrade-protocol': 'SPDY/3.1' }, 'the closed session\'s record says a revocation ended it');
    t.same(h.fake.violations, []);
  });
});
