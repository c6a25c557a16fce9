/**
 * The request lifecycle under hostile timing, through the real listener against the recording fake API
 * server: clients that leave while their token is being verified, before the API server answers, or
 * while an upgrade is pending; requests Node cannot parse. For every request: exactly one audit record,
 * saying what really happened, and the API server saw the request if and only if the record says it
 * was forwarded (checked by audit ID, which travels upstream). Then nothing is left in flight and
 * shutdown completes.
 *
 * The batches use fresh tokens per attempt (no cache hit hides the race) and many attempts, and assert
 * invariants that hold whichever way each race went; the single-request cases wait on events, never on
 * sleeps.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { AuditEvent } from '../../src/audit/event.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigYaml, SA_TOKEN, startHarness, type Harness } from '../support/harness.js';
import { startJwksIssuer } from '../support/jwks-issuer.js';
import { eventually, startOwnKubegate } from '../support/own-kubegate.js';
import { deferred, head, openTls, rawExchange, startExtraKubegate, within } from '../support/streaming.js';

const ALICE = { email: 'alice@example.com', email_verified: true, groups: ['dev'] };
const EXEC = '/api/v1/namespaces/default/pods/hello/exec';

/** Every audit record written so far (whole lines only), any stage. */
function allStages(file: string): AuditEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.endsWith('}'))
    .map((line) => JSON.parse(line) as AuditEvent);
}

/**
 * The final record of each request written so far (ResponseComplete or Panic): exactly one per request.
 * (Under the default policy a relayed session also has a ResponseStarted record before it; checked below.)
 */
function auditRecords(file: string): AuditEvent[] {
  return allStages(file).filter((e) => e.stage === 'ResponseComplete' || e.stage === 'Panic');
}

/** Send `request` on a new TLS connection and close it as soon as the bytes are on the wire. */
async function sendAndLeave(port: number, ca: string, request: string): Promise<void> {
  const socket = await openTls(port, ca);
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.write(request, () => resolve()));
  socket.destroy();
}

/** Audit IDs of the requests the fake API server received on `path`. */
function forwardedIds(h: Harness, path: string): Set<string> {
  return new Set(h.fake.requests.filter((q) => q.url.startsWith(path)).map((q) => q.all('audit-id')[0] ?? 'none'));
}

async function settled(h: Harness, records: () => AuditEvent[], count: number): Promise<AuditEvent[]> {
  return eventually(`${count} audit records`, () => (h.kubegate.inflight() === 0 && records().length >= count ? records() : undefined), 20_000, 20);
}

t.test('request lifecycle', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  // Upgrades the fake accepts: 101 at once, then the session stays open until either side closes.
  const sessions = new Set<Duplex>();
  h.fake.upgradeRoute(EXEC, (req, socket) => {
    sessions.add(socket);
    socket.once('close', () => sessions.delete(socket));
    socket.on('error', () => {});
    const protocol = String(req.headers.upgrade);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n\r\n`);
  });
  const ofPath = (path: string) => () => auditRecords(h.auditFile).filter((e) => e.requestURI.startsWith(path));

  t.test('a client that leaves during verification of a bad token: one refused record each, never a success, nothing forwarded', async (t) => {
    const path = '/api/v1/namespaces/prod/secrets/db-password?attempt=';
    const attempts = 50;
    for (let i = 0; i < attempts; i++) {
      // A real key id with a forged signature: verification fails, after the work of verifying.
      const token = await h.issuer.forge({ sub: 'mallory', email: 'mallory@example.com', n: i });
      await sendAndLeave(h.kubegate.port, h.pki.ca, head([`DELETE ${path}${i} HTTP/1.1`, 'Host: x', `Authorization: Bearer ${token}`]));
    }
    const records = await settled(h, ofPath(path), attempts);
    t.equal(records.length, attempts, 'exactly one record per request');
    t.equal(new Set(records.map((e) => e.requestURI)).size, attempts, 'one record for each attempt');
    for (const e of records) {
      if (e.responseStatus.code !== 401) t.equal(e.responseStatus.code, 499, `${e.requestURI}: 401 sent, or 499 when the client left first`);
      t.equal(e.responseStatus.status, 'Failure');
      t.equal(e.annotations?.['kubegate.io/error'], 'AUTHN_INVALID_TOKEN');
      t.equal(e.annotations?.['kubegate.io/forwarded'], 'false');
      t.same(e.user, {}, 'no user');
    }
    t.equal(forwardedIds(h, '/api/v1/namespaces/prod/secrets').size, 0, 'nothing reached the API server');
  });

  for (const [name, upgrade] of [
    ['SPDY/3.1', (path: string, token: string) => head([`POST ${path} HTTP/1.1`, 'Host: x', `Authorization: Bearer ${token}`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1', 'X-Stream-Protocol-Version: v4.channel.k8s.io'])],
    ['WebSocket', (path: string, token: string) => head([`GET ${path} HTTP/1.1`, 'Host: x', `Authorization: Bearer ${token}`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol: v5.channel.k8s.io'])],
  ] as const) {
    t.test(`${name} exec whose client leaves during authentication: one record each, forwarded exactly when the API server saw it`, async (t) => {
      const attempts = 30;
      const tag = name === 'WebSocket' ? 'ws' : 'spdy';
      for (let i = 0; i < attempts; i++) {
        const token = await h.issuer.mintIdToken({ sub: `alice-${tag}-${i}`, claims: ALICE });
        await sendAndLeave(h.kubegate.port, h.pki.ca, upgrade(`${EXEC}?command=${tag}${i}`, token));
      }
      const records = await settled(h, ofPath(`${EXEC}?command=${tag}`), attempts);
      t.equal(records.length, attempts, 'exactly one record per upgrade request');
      const upstream = forwardedIds(h, `${EXEC}?command=${tag}`);
      for (const e of records) {
        const forwarded = e.annotations?.['kubegate.io/forwarded'] === 'true';
        t.equal(upstream.has(e.auditID), forwarded, `${e.requestURI}: the API server saw it iff the record says forwarded`);
        t.equal(e.user.username, 'alice@example.com');
        if (e.annotations?.['kubegate.io/outcome'] === 'client-gone') t.equal(e.responseStatus.code, 499, 'client gone before any answer: 499');
        else t.equal(e.responseStatus.code, 101, 'the session was relayed');
      }
      await eventually('every upstream session to be closed', () => (sessions.size === 0 ? true : undefined), 10_000, 20);
      t.pass('no upstream session outlives its client');
    });
  }

  t.test('a client that leaves before the API server answers: 499, forwarded, and the upstream request is ended', async (t) => {
    const path = '/api/v1/namespaces/default/configmaps/slow';
    const token = await h.issuer.mintIdToken({ sub: 'alice-slow', claims: ALICE });
    t.equal((await h.send('/version', { headers: [['Authorization', `Bearer ${token}`]] })).status, 200, 'the token is valid (and now cached)');
    const arrived = deferred();
    const upstreamClosed = deferred();
    h.fake.route('GET', path, (req, res) => {
      req.resume();
      res.on('close', () => upstreamClosed.resolve());
      arrived.resolve(); // never answered: it would have been a 403, say
    });
    const ex = await rawExchange(h.kubegate.port, h.pki.ca, head([`GET ${path} HTTP/1.1`, 'Host: x', `Authorization: Bearer ${token}`]));
    await within(arrived.promise, 10_000, 'the request to reach the API server');
    ex.socket.destroy();
    await within(upstreamClosed.promise, 10_000, 'kubegate to end the upstream request');
    const [record] = await settled(h, ofPath(path), 1);
    t.equal(record?.responseStatus.code, 499, 'not a 200 that never happened');
    t.equal(record?.annotations?.['kubegate.io/outcome'], 'client-gone');
    t.equal(record?.annotations?.['kubegate.io/forwarded'], 'true');
    t.equal(record?.user.username, 'alice@example.com');
  });

  t.test('requests Node cannot parse are answered and audited', async (t) => {
    const cases = [
      { lines: ['GET /api/v1/namespaces/default/pods?bad=cl-te HTTP/1.1', 'Host: x', 'Content-Length: 5', 'Transfer-Encoding: chunked'], code: 400, error: 'REQUEST_MALFORMED', uri: '/api/v1/namespaces/default/pods?bad=cl-te' },
      { lines: ['GET /api/v1/namespaces/default/pods?bad=huge HTTP/1.1', 'Host: x', `X-Filler: ${'a'.repeat(20_000)}`], code: 431, error: 'REQUEST_HEADERS_TOO_LARGE', uri: '/api/v1/namespaces/default/pods?bad=huge' },
    ];
    for (const c of cases) {
      const ex = await rawExchange(h.kubegate.port, h.pki.ca, head(c.lines));
      await ex.closed;
      t.match(ex.received().toString(), new RegExp(`^HTTP/1\\.1 ${c.code} `));
      const auditId = /audit-id: ([0-9a-f-]+)/i.exec(ex.received().toString())?.[1];
      t.ok(auditId, 'the answer carries an audit ID');
      const [record] = await settled(h, () => auditRecords(h.auditFile).filter((e) => e.auditID === auditId), 1);
      t.equal(record?.responseStatus.code, c.code);
      t.equal(record?.annotations?.['kubegate.io/error'], c.error);
      // Node hands over only the chunk it failed on: the request line is recorded when that chunk has it.
      if (c.code === 400) t.equal(record?.requestURI, c.uri, 'the request line is recorded');
      else t.ok(record?.requestURI === c.uri || record?.requestURI === '', 'the request line, or nothing made up');
      t.equal(record?.annotations?.['kubegate.io/forwarded'], 'false');
    }
  });

  t.test('after the batches: nothing in flight, nothing reached the API server without kubegate\'s promises, shutdown completes', async (t) => {
    t.equal(h.kubegate.inflight(), 0);
    t.same(h.fake.violations, []);
    // An upstream connection opened for a request whose client had gone, and never used, is a leak of a
    // connection carrying kubegate's credential: none may stay open.
    await eventually('no idle upstream connection without a request', () => (h.fake.openWithoutRequest === 0 ? true : undefined), 10_000, 20);
    const ids = auditRecords(h.auditFile).map((e) => e.auditID);
    t.equal(new Set(ids).size, ids.length, 'no audit ID has two final records');
    // Any other record of a request is its ResponseStarted (a relayed session), written before the final one.
    const all = allStages(h.auditFile);
    const finalAt = new Map(all.flatMap((e, i) => (e.stage === 'ResponseComplete' ? [[e.auditID, i] as const] : [])));
    for (const [i, e] of all.entries()) {
      if (e.stage === 'ResponseComplete') continue;
      t.equal(e.stage, 'ResponseStarted', 'only ResponseStarted besides the final record (default policy)');
      t.equal(e.responseStatus.code, 101, 'written when the session started');
      t.ok((finalAt.get(e.auditID) ?? -1) > i, 'before the final record of the same request');
    }
    t.equal(new Set(all.filter((e) => e.stage === 'ResponseStarted').map((e) => e.auditID)).size, all.filter((e) => e.stage === 'ResponseStarted').length, 'at most one ResponseStarted per request');
    await within(h.stopAndReadAudit(), 10_000, 'kubegate to shut down');
    t.pass('shut down');
  });
});

t.test('an upgrade the API server never answers ends at the long-running limits', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const token = await h.issuer.mintIdToken({ sub: 'alice', claims: ALICE });
  const pending = new Set<Duplex>();
  h.fake.upgradeRoute(EXEC, (_req, socket) => {
    socket.on('error', () => {});
    pending.add(socket);
    socket.once('close', () => pending.delete(socket));
  });
  for (const proxy of [{ longRunningIdleTimeoutSeconds: 1 }, { longRunningMaxSeconds: 1 }]) {
    t.test(JSON.stringify(proxy), async (t) => {
      const extra = await startExtraKubegate(h, { proxy });
      t.teardown(() => extra.close());
      const ex = await rawExchange(extra.kubegate.port, h.pki.ca, head([`POST ${EXEC}?command=sh HTTP/1.1`, 'Host: x', `Authorization: Bearer ${token}`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1']));
      await within(ex.closed, 15_000, 'kubegate to give up on the upgrade');
      t.match(ex.received().toString(), /^HTTP\/1\.1 504 /, 'a 504 Status');
      t.match(ex.received().toString(), /"kind":"Status"/);
      await eventually('the pending upstream upgrade to be closed', () => (pending.size === 0 ? true : undefined), 10_000, 20);
      const records = await extra.stopAndReadAudit();
      const record = records.find((e) => e.requestURI.startsWith(EXEC));
      t.equal(record?.responseStatus.code, 504);
      t.equal(record?.annotations?.['kubegate.io/error'], 'UPSTREAM_TIMEOUT');
      t.equal(record?.annotations?.['kubegate.io/forwarded'], 'true');
    });
  }
});

t.test('clients that leave while kubegate waits for the identity provider\'s keys: nothing forwarded, one true record each', async (t) => {
  // Deterministic: the tokens name a key kubegate has not seen, so it fetches the key set, and the
  // stand-in identity provider holds that fetch until every client has gone and kubegate has noticed.
  const h = await startHarness();
  t.teardown(() => h.close());
  const jwks = await startJwksIssuer({ pki: h.pki });
  t.teardown(() => jwks.close());
  await jwks.addKey('k1');
  const upstreamKubeconfig = join(h.pki.dir, 'gated-upstream.kubeconfig');
  writeFileSync(upstreamKubeconfig, kubeconfigYaml(h.fake.url, h.pki.caFile, SA_TOKEN));
  const own = await startOwnKubegate({ pki: h.pki, issuer: jwks, upstreamKubeconfig });
  t.teardown(() => own.close());

  const k1 = jwks.published[0]!;
  const k2 = await jwks.addKey('k2', { publish: false });
  jwks.setMode('hold');
  jwks.publish([k1, k2]);
  const valid = await jwks.sign(k2, ALICE);
  const wrongAudience = await jwks.sign(k2, { ...ALICE, aud: 'someone-else' });
  const requests = [
    { name: 'DELETE with a valid token', path: '/api/v1/namespaces/prod/secrets/a', raw: head(['DELETE /api/v1/namespaces/prod/secrets/a HTTP/1.1', 'Host: x', `Authorization: Bearer ${valid}`]), user: 'alice@example.com' },
    { name: 'DELETE with a refused token', path: '/api/v1/namespaces/prod/secrets/b', raw: head(['DELETE /api/v1/namespaces/prod/secrets/b HTTP/1.1', 'Host: x', `Authorization: Bearer ${wrongAudience}`]), error: 'AUTHN_INVALID_TOKEN' },
    { name: 'SPDY exec with a valid token', path: `${EXEC}?command=gated-spdy`, raw: head([`POST ${EXEC}?command=gated-spdy HTTP/1.1`, 'Host: x', `Authorization: Bearer ${valid}`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1']), user: 'alice@example.com' },
    { name: 'WebSocket exec with a valid token', path: `${EXEC}?command=gated-ws`, raw: head([`GET ${EXEC}?command=gated-ws HTTP/1.1`, 'Host: x', `Authorization: Bearer ${valid}`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==']), user: 'alice@example.com' },
  ];
  const sockets = await Promise.all(requests.map(() => openTls(own.kubegate.port, h.pki.ca)));
  sockets.forEach((socket, i) => {
    socket.on('error', () => {});
    socket.write(requests[i]!.raw);
  });
  await within(jwks.waitForHeld(1), 15_000, 'kubegate to fetch the key set');
  // Half of them only half-close (FIN, still reading): kubegate must notice that too.
  sockets.forEach((socket, i) => (i % 2 === 0 ? socket.destroy() : socket.end()));
  const gone = () => own.logs.filter((l) => l.message.startsWith('client closed the connection'));
  await eventually('kubegate to notice every client leave', () => (gone().length === requests.length ? true : undefined), 10_000, 20);
  jwks.release();
  const records = await eventually('the records', () => {
    const all = auditRecords(own.auditFile);
    return own.kubegate.inflight() === 0 && all.length >= requests.length ? all : undefined;
  }, 15_000, 20);
  t.equal(records.length, requests.length, 'exactly one record per request');
  for (const r of requests) {
    const e = records.find((x) => x.requestURI === r.path);
    t.ok(e, `${r.name}: recorded`);
    t.equal(e?.responseStatus.code, 499, `${r.name}: no status was sent`);
    t.equal(e?.annotations?.['kubegate.io/outcome'], 'client-gone');
    t.equal(e?.annotations?.['kubegate.io/forwarded'], 'false', `${r.name}: not forwarded`);
    if (r.user) t.equal(e?.user.username, r.user, `${r.name}: the verified person is on record`);
    if (r.error) t.equal(e?.annotations?.['kubegate.io/error'], r.error, `${r.name}: the refusal is on record`);
    t.notOk(h.fake.requests.some((q) => q.url === r.path), `${r.name}: the API server never saw it`);
  }
  t.same(new Set(gone().map((l) => l.auditID)), new Set(records.map((e) => e.auditID)), 'the log and the audit trail name the same requests');
});
