/**
 * HTTP/2 clients end to end, through the real listener (ALPN h2 beside http/1.1) against the recording
 * fake API server: real kubectl negotiating h2 by itself, and a raw node:http2 client for what kubectl
 * cannot be made to do (many streams on one connection, resetting one stream mid-watch, CONNECT).
 * Everything the HTTP/1.1 tests promise holds here too: header hygiene, Status bodies, exactly one true
 * audit record per request, nothing forwarded for a client that has gone, the upstream request released
 * when the client's stream goes away, a clean end of watches at shutdown.
 */
import t from 'tap';
import http2 from 'node:http2';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditEvent } from '../../src/audit/event.js';
import { startHarness, SA_TOKEN, TEST_LISTENER, TEST_UPSTREAM, type Harness } from '../support/harness.js';
import { eventually } from '../support/own-kubegate.js';
import { deferred, spawnKubectl, within } from '../support/streaming.js';

if (TEST_LISTENER === 'h1') t.plan(0, 'the HTTP/1.1-only listener (KUBEGATE_TEST_LISTENER=h1) offers no HTTP/2');

const ALICE = { email: 'alice@example.com', email_verified: true, groups: ['dev', 'ops'] };

function finalRecords(file: string): AuditEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.endsWith('}'))
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((e) => e.stage === 'ResponseComplete' || e.stage === 'Panic');
}

function connectH2(h: Harness): http2.ClientHttp2Session {
  const session = http2.connect(h.kubegate.url, { ca: h.pki.ca, servername: 'localhost' });
  session.on('error', () => {});
  return session;
}

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/** One request on `session`; the whole answer. */
function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let head: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks).toString('utf8') }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

/** Reads a client stream to its end: 'end' for a clean END_STREAM, `error CODE` for a broken one. */
function howItEnds(stream: http2.ClientHttp2Stream): Promise<string> {
  return new Promise<string>((resolve) => {
    stream.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
    stream.on('end', () => resolve('end'));
    stream.resume();
  });
}

/** A watch the fake holds open until the test ends it. */
interface HeldWatch {
  req: IncomingMessage;
  res: ServerResponse;
  closed: Promise<void>;
}

function holdWatches(h: Harness, path: string): { next(): Promise<HeldWatch> } {
  const waiting: ((w: HeldWatch) => void)[] = [];
  const ready: HeldWatch[] = [];
  h.fake.route('GET', path, (req, res) => {
    if (!/[?&]watch=(1|true)/.test(req.url ?? '')) {
      // kubectl lists before it watches.
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items: [] }));
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
    const w = { req, res, closed };
    const taker = waiting.shift();
    if (taker) taker(w);
    else ready.push(w);
  });
  return {
    next: () => within(new Promise<HeldWatch>((resolve) => (ready.length > 0 ? resolve(ready.shift()!) : waiting.push(resolve))), 10_000, `a watch on ${path}`),
  };
}

const event = (name: string, kind = 'ConfigMap') => `${JSON.stringify({ type: 'ADDED', object: { kind, apiVersion: 'v1', metadata: { name, namespace: 'default', resourceVersion: '7' } } })}\n`;

t.test('HTTP/2 clients', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const alice = await h.issuer.mintIdToken({ sub: 'alice-sub', claims: ALICE });
  const ofId = (id: string) => finalRecords(h.auditFile).find((e) => e.auditID === id);
  const recordOf = (id: string) => eventually(`the audit record of ${id}`, () => ofId(id), 10_000, 10);

  t.test('kubectl negotiates HTTP/2: get --raw and a watch, audited as HTTP/2, sent upstream as kubegate with the person impersonated', async (t) => {
    const before = h.fake.requests.length;
    const r = await h.kubectl(['get', '--raw', '/version'], alice);
    t.equal(r.code, 0, r.stderr);
    t.match(JSON.parse(r.stdout), { gitVersion: 'v1.32.0-kubegate-fake' });
    const seen = h.fake.requests.slice(before).find((q) => q.url.startsWith('/version?timeout=20s'));
    t.ok(seen, `the API server received the request (it saw ${h.fake.requests.slice(before).map((q) => q.url).join(', ')})`);
    t.same(seen!.all('authorization'), [`Bearer ${SA_TOKEN}`]);
    t.same(seen!.all('impersonate-user'), ['alice@example.com']);
    t.same(seen!.rawHeaders.filter(([n]) => n.startsWith(':')), [], 'no pseudo-header travelled as a header');
    const record = await recordOf(seen!.all('audit-id')[0]!);
    t.equal(record.annotations?.['kubegate.io/client-http-version'], '2.0', 'kubectl used HTTP/2');

    const watches = holdWatches(h, '/api/v1/namespaces/default/pods');
    t.teardown(() => h.fake.route('GET', '/api/v1/namespaces/default/pods', (_q, res) => void res.end('{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}')));
    const kubectl = spawnKubectl(h, ['get', 'pods', '--watch', '-o', 'name'], alice);
    t.teardown(() => kubectl.child.kill('SIGKILL'));
    const watch = await watches.next();
    watch.res.write(event('over-h2', 'Pod'));
    await kubectl.waitForStdout(/^pod\/over-h2$/m);
    const id = String(watch.req.headers['audit-id']);
    kubectl.child.kill('SIGTERM');
    await within(watch.closed, 10_000, 'the upstream watch to close once kubectl left');
    const watchRecord = await recordOf(id);
    t.equal(watchRecord.annotations?.['kubegate.io/client-http-version'], '2.0', 'the watch ran over HTTP/2');
    t.equal(watchRecord.annotations?.['kubegate.io/outcome'], 'client-gone');
  });

  t.test('fifty requests multiplexed on one connection: each answered and audited once, each impersonated', async (t) => {
    const session = connectH2(h);
    t.teardown(() => session.close());
    const before = h.fake.requests.length;
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => h2Request(session, { ':method': 'GET', ':path': '/api/v1/namespaces/default/pods', authorization: `Bearer ${alice}` })),
    );
    t.same(answers.map((a) => a.status), Array(50).fill(200));
    t.equal(session.remoteSettings.maxConcurrentStreams, 250, 'kubegate caps streams per connection (--http2-max-streams-per-connection; Node\'s own default is unlimited)');
    const ids = answers.map((a) => String(a.headers['audit-id']));
    t.equal(new Set(ids).size, 50, 'fifty distinct audit IDs');
    const forwarded = h.fake.requests.slice(before);
    t.equal(forwarded.length, 50);
    t.ok(forwarded.every((q) => q.all('impersonate-user').length === 1 && q.all('impersonate-user')[0] === 'alice@example.com'));
    const records = await eventually('fifty records', () => {
      const found = ids.map(ofId);
      return found.every(Boolean) ? (found as AuditEvent[]) : undefined;
    }, 10_000, 10);
    t.ok(records.every((e) => e.responseStatus.code === 200 && e.annotations?.['kubegate.io/client-http-version'] === '2.0'));
  });

  t.test('hygiene over HTTP/2: client credentials, identity, forwarding and te headers never reach the API server', async (t) => {
    const session = connectH2(h);
    t.teardown(() => session.close());
    const before = h.fake.requests.length;
    const a = await h2Request(session, {
      ':method': 'GET',
      ':path': '/api/v1/namespaces/default/pods',
      authorization: `Bearer ${alice}`,
      'x-remote-user': 'system:admin',
      'x-forwarded-for': '10.9.9.9',
      te: 'trailers',
      'audit-id': 'client-chosen',
    });
    t.equal(a.status, 200);
    const seen = h.fake.requests.slice(before);
    t.equal(seen.length, 1);
    const names = seen[0]!.rawHeaders.map(([n]) => n.toLowerCase());
    t.notOk(names.includes('x-remote-user'));
    t.notOk(names.includes('te'));
    t.same(seen[0]!.all('x-forwarded-for'), ['127.0.0.1']);
    t.not(seen[0]!.all('audit-id')[0], 'client-chosen');
    t.same(seen[0]!.all('authorization'), [`Bearer ${SA_TOKEN}`]);
  });

  t.test('a refused request over HTTP/2 gets a Status body; a CONNECT is refused; nothing forwarded', async (t) => {
    const session = connectH2(h);
    t.teardown(() => session.close());
    const before = h.fake.requests.length;
    const anonymous = await h2Request(session, { ':method': 'GET', ':path': '/api/v1/namespaces/default/pods' });
    t.equal(anonymous.status, 401);
    t.match(JSON.parse(anonymous.body), { kind: 'Status', code: 401, reason: 'Unauthorized' });
    const connect = await h2Request(session, { ':method': 'CONNECT', ':authority': 'example.com:443', authorization: `Bearer ${alice}` });
    t.equal(connect.status, 400);
    t.match(JSON.parse(connect.body), { kind: 'Status', code: 400 });
    t.equal(h.fake.requests.length, before, 'nothing reached the API server');
    const id = String(connect.headers['audit-id']);
    const record = await recordOf(id);
    t.equal(record.responseStatus.code, 400);
  });

  t.test('a client resetting one stream mid-watch: the upstream watch is released, the record says client-gone, the connection carries on', async (t) => {
    const watches = holdWatches(h, '/api/v1/namespaces/default/secrets');
    const session = connectH2(h);
    t.teardown(() => session.close());
    const stream = session.request({ ':method': 'GET', ':path': '/api/v1/namespaces/default/secrets?watch=1', authorization: `Bearer ${alice}` });
    stream.on('error', () => {});
    const watch = await watches.next();
    const gotEvent = deferred();
    stream.on('data', () => gotEvent.resolve());
    watch.res.write(event('s1'));
    await within(gotEvent.promise, 10_000, 'the first event over HTTP/2');
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await within(watch.closed, 10_000, 'the upstream watch to close after the client reset its stream');
    t.notOk(watch.res.writableEnded, 'closed because the client left, not ended by the fake');
    const record = await recordOf(String(watch.req.headers['audit-id']));
    t.equal(record.annotations?.['kubegate.io/outcome'], 'client-gone');
    const after = await h2Request(session, { ':method': 'GET', ':path': '/version', authorization: `Bearer ${alice}` });
    t.equal(after.status, 200, 'the same connection still serves requests');
  });

  t.test('the API server failing mid-watch resets the client stream (never a clean end) and is audited as upstream-failed', async (t) => {
    const watches = holdWatches(h, '/api/v1/namespaces/default/services');
    const session = connectH2(h);
    t.teardown(() => session.close());
    const stream = session.request({ ':method': 'GET', ':path': '/api/v1/namespaces/default/services?watch=1', authorization: `Bearer ${alice}` });
    const outcome = howItEnds(stream);
    const watch = await watches.next();
    watch.res.write(event('svc-1'));
    // The connection to the API server breaks (its whole HTTP/2 session, or its HTTP/1.1 socket).
    if (watch.req.httpVersion === '2.0') (watch.req as unknown as http2.Http2ServerRequest).stream.session?.destroy();
    else watch.req.socket.destroy();
    t.match(await within(outcome, 10_000, 'the client stream to finish'), /^error ERR_HTTP2_STREAM_ERROR/, 'the client sees a broken stream');
    const record = await recordOf(String(watch.req.headers['audit-id']));
    t.equal(record.annotations?.['kubegate.io/outcome'], 'upstream-failed');
    const after = await h2Request(session, { ':method': 'GET', ':path': '/version', authorization: `Bearer ${alice}` });
    t.equal(after.status, 200, 'the connection survives one failed stream');
  });

  t.test('response headers HTTP/2 forbids are dropped, not a crash', async (t) => {
    h.fake.route('GET', '/api/v1/namespaces/default/endpoints', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', connection: 'x-hop', 'x-hop': 'secret-hop', 'keep-alive': 'timeout=5', 'x-kept': 'yes' });
      res.end('{"kind":"EndpointsList","items":[]}');
    });
    const session = connectH2(h);
    t.teardown(() => session.close());
    const a = await h2Request(session, { ':method': 'GET', ':path': '/api/v1/namespaces/default/endpoints', authorization: `Bearer ${alice}` });
    t.equal(a.status, 200);
    t.equal(a.headers['x-kept'], 'yes');
    // (Over HTTP/2 the API server cannot send a Connection header at all: this part is about an HTTP/1.1 upstream.)
    if (TEST_UPSTREAM === 'http1') t.equal(a.headers['x-hop'], undefined, 'a header the API server named in Connection is not relayed');
    t.equal(a.body, '{"kind":"EndpointsList","items":[]}');
  });

  t.test('a 3 MB request body over HTTP/2 streams to the API server intact (larger than every receive window)', async (t) => {
    h.fake.route('POST', '/api/v1/namespaces/default/configmaps', (req, res) => {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (c: Buffer) => (hash.update(c), (size += c.length)));
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ size, sha: hash.digest('hex'), length: req.headers['content-length'] ?? null, te: req.headers['transfer-encoding'] ?? null }));
      });
    });
    const body = randomBytes(1.5 * 1024 * 1024).toString('hex');
    const sha = createHash('sha256').update(body).digest('hex');
    const session = connectH2(h);
    t.teardown(() => session.close());
    const sized = await h2Request(session, { ':method': 'POST', ':path': '/api/v1/namespaces/default/configmaps', authorization: `Bearer ${alice}`, 'content-type': 'application/json', 'content-length': String(body.length) }, body);
    t.equal(sized.status, 201);
    t.same(JSON.parse(sized.body), { size: body.length, sha, length: String(body.length), te: null }, 'Content-Length kept, every byte relayed');
    const unsized = await h2Request(session, { ':method': 'POST', ':path': '/api/v1/namespaces/default/configmaps', authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body);
    t.same(JSON.parse(unsized.body), { size: body.length, sha, length: null, te: TEST_UPSTREAM === 'http1' ? 'chunked' : null }, 'without a length it is framed again (chunked on HTTP/1.1, DATA frames on HTTP/2)');
  });

  t.test('no request reached the API server without kubegate\'s credential and an Impersonate-User', async (t) => {
    t.same(h.fake.violations, []);
  });
});

t.test('shutdown over HTTP/2: a watch in flight ends cleanly, its record says shutdown', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const alice = await h.issuer.mintIdToken({ sub: 'alice-sub', claims: ALICE });
  const watches = holdWatches(h, '/api/v1/namespaces/default/configmaps');
  const session = connectH2(h);
  t.teardown(() => session.destroy());
  const goaway = deferred();
  session.on('goaway', () => goaway.resolve());
  const stream = session.request({ ':method': 'GET', ':path': '/api/v1/namespaces/default/configmaps?watch=1', authorization: `Bearer ${alice}` });
  const ended = howItEnds(stream);
  const watch = await watches.next();
  const id = String(watch.req.headers['audit-id']);
  const stopped = h.kubegate.shutdown();
  await within(goaway.promise, 10_000, 'a GOAWAY on the client connection');
  t.equal(await within(ended, 20_000, 'the watch to end'), 'end', 'the watch ended with a clean end of stream');
  await within(stopped, 30_000, 'shutdown to complete');
  const records = await h.stopAndReadAudit();
  const record = records.find((e) => e.auditID === id && e.stage === 'ResponseComplete');
  t.equal(record?.annotations?.['kubegate.io/outcome'], 'shutdown');
  t.equal(h.kubegate.inflight(), 0);
});
