/**
 * The recording fake API server in HTTP/2 mode (`http2: true`): HTTP/2 and HTTP/1.1 on one port, what it
 * records (httpVersion, no pseudo-headers, violations still found), upgrades over the HTTP/1.1 fallback,
 * and the test hooks goaway(), settings() and refuseNext(), driven through kubegate's HTTP/2 pool.
 */
import t from 'tap';
import https from 'node:https';
import { once } from 'node:events';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { ServerResponse } from 'node:http';
import { createH2Pool, type H2Pool } from '../../src/proxy/h2-pool.js';
import type { UpstreamRequest } from '../../src/proxy/upstream-client.js';
import { json, startFakeApiServer, type FakeApiServer } from './fake-apiserver.js';
import { createPki } from './pki.js';
import { eventually, within } from './wait.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];
const TOKEN = 'fake-apiserver-h2-test-token';
const pki = createPki();
t.teardown(() => pki.cleanup());

async function fakeH2(t: Test, http2 = true): Promise<FakeApiServer> {
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: TOKEN, http2 });
  t.teardown(() => fake.close());
  return fake;
}

function pool(t: Test, fake: FakeApiServer): H2Pool {
  const secureContext = tls.createSecureContext({ ca: pki.ca });
  const p = createH2Pool({ origin: new URL(fake.url), tls: () => ({ ca: pki.ca, secureContext }) });
  t.teardown(() => p.destroy());
  return p;
}

const get = (path: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}`, 'impersonate-user': 'alice' }): UpstreamRequest => ({
  method: 'GET',
  path,
  headers: { ...headers },
  body: null,
  signal: new AbortController().signal,
  idleMs: 0,
  onSent: () => {},
});

async function text(p: H2Pool, req: UpstreamRequest): Promise<{ status: number; body: string }> {
  const r = await p.request(req);
  let body = '';
  for await (const c of r.body) body += String(c);
  return { status: r.status, body };
}

/** An HTTP/1.1 request without ALPN (as Node's https and client-go's SPDY dialer send). */
function h1(fake: FakeApiServer, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${fake.url}${path}`, { ca: pki.ca, headers: { authorization: `Bearer ${TOKEN}`, 'impersonate-user': 'bob' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('HTTP/2 and HTTP/1.1 on one port: recorded with their version, without pseudo-headers; violations still found', async (t) => {
  const fake = await fakeH2(t);
  const p = pool(t, fake);
  const v = await text(p, get('/version'));
  t.equal(v.status, 200);
  t.match(JSON.parse(v.body), { gitVersion: /fake/ });
  t.equal(await h1(fake, '/version'), 200);
  t.same(fake.requests.map((r) => [r.url, r.httpVersion]), [['/version', '2.0'], ['/version', '1.1']]);
  const h2rec = fake.requests[0]!;
  t.notOk(h2rec.rawHeaders.some(([n]) => n.startsWith(':')), 'no pseudo-header recorded');
  t.same(h2rec.all('impersonate-user'), ['alice']);
  t.equal(h2rec.method, 'GET');
  t.same(fake.violations, []);
  // A forwarded request without Impersonate-User is still a violation over HTTP/2.
  const bad = await text(p, get('/version', { authorization: `Bearer ${TOKEN}` }));
  t.equal(bad.status, 403);
  t.match(fake.violations, [/expected exactly one Impersonate-User, got 0/]);
  const noCred = await text(p, get('/version', { 'impersonate-user': 'alice' }));
  t.equal(noCred.status, 401);
  t.equal(fake.violations.length, 2, 'a missing credential too');
  t.equal(fake.tlsConnections, 2, 'one TLS connection per protocol');
  await eventually('no connection open without a request', () => (fake.openWithoutRequest === 0 ? true : undefined), 10_000);
});

t.test('upgrades stay HTTP/1.1 on the HTTP/2 server\'s fallback', async (t) => {
  const fake = await fakeH2(t);
  fake.upgradeRoute('/api/v1/namespaces/default/pods/hello/exec', (req, socket: Duplex) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${String(req.headers.upgrade)}\r\n\r\n`);
    socket.pipe(socket);
  });
  const req = https.request(`${fake.url}/api/v1/namespaces/default/pods/hello/exec?command=sh`, {
    method: 'POST',
    ca: pki.ca,
    agent: false,
    headers: { authorization: `Bearer ${TOKEN}`, 'impersonate-user': 'alice', connection: 'Upgrade', upgrade: 'SPDY/3.1' },
  });
  req.end();
  const [res, socket] = (await within(once(req, 'upgrade'), 10_000, 'the upgrade')) as [{ statusCode: number }, Duplex];
  t.equal(res.statusCode, 101);
  socket.write('ping');
  const [echo] = (await within(once(socket, 'data'), 10_000, 'the echo')) as [Buffer];
  t.equal(String(echo), 'ping');
  socket.destroy();
  t.same(fake.requests.map((r) => r.httpVersion), ['1.1']);
  t.same(fake.violations, []);
});

t.test('hooks: settings() limits streams per session, refuseNext() is retried once by the pool, goaway() moves new requests to a new session', async (t) => {
  const fake = await fakeH2(t);
  const held: ServerResponse[] = [];
  let arrived: (() => void) | undefined;
  fake.route('GET', '/hold', (_q, res) => {
    held.push(res);
    arrived?.();
  });
  const p = pool(t, fake);
  t.equal((await text(p, get('/version'))).status, 200);
  t.equal(fake.http2Sessions, 1);

  await fake.settings({ maxConcurrentStreams: 1 });
  const two = new Promise<void>((resolve) => (arrived = () => held.length === 2 && resolve()));
  const both = [p.request(get('/hold')), p.request(get('/hold'))];
  await within(two, 10_000, 'two held requests');
  t.equal(fake.http2Sessions, 2, 'one stream per session: a second session');
  for (const res of held.splice(0)) json(res, 200, { ok: true });
  for (const r of await Promise.all(both)) r.body.resume();
  await fake.settings({ maxConcurrentStreams: 100 });

  fake.refuseNext(1);
  const before = fake.requests.length;
  t.equal((await text(p, get('/api'))).status, 200, 'the refused GET was sent again');
  t.equal(fake.refused.length, 1);
  t.equal(fake.refused[0]!.url, '/api');
  t.same(fake.requests.slice(before).map((r) => r.url), ['/api'], 'processed once');

  const sessionsBefore = fake.http2Sessions;
  fake.goaway();
  await eventually('the pool to drop the closed sessions', () => (p.stats().sessions === 0 || p.stats().draining === p.stats().sessions ? true : undefined), 10_000);
  t.equal((await text(p, get('/version'))).status, 200);
  t.equal(fake.http2Sessions, sessionsBefore + 1, 'after GOAWAY a new session');

  // goaway(lastStreamId) with a held request above it: the record moves to `refused`, the pool sends it again.
  // The new session carried /version as stream 1; the held request is stream 3.
  let once1 = true;
  fake.route('GET', '/held-once', (_q, res) => {
    if (once1) {
      once1 = false;
      held.push(res);
      arrived?.();
      return;
    }
    json(res, 200, { again: true });
  });
  const one = new Promise<void>((resolve) => (arrived = () => resolve()));
  const retried = p.request(get('/held-once'));
  await within(one, 10_000, 'the held request');
  fake.goaway(1);
  const r = await retried;
  let body = '';
  for await (const c of r.body) body += String(c);
  t.same(JSON.parse(body), { again: true });
  t.same(fake.requests.filter((q) => q.url === '/held-once').length, 1, 'processed once');
  t.same(fake.refused.map((q) => q.url), ['/api', '/held-once']);
});

t.test('the default stays HTTP/1.1 only; the hooks say they need http2', async (t) => {
  const fake = await fakeH2(t, false);
  t.equal(await h1(fake, '/version'), 200);
  t.equal(fake.requests[0]!.httpVersion, '1.1');
  t.throws(() => fake.goaway(), /needs startFakeApiServer\(\{ http2: true \}\)/);
  t.throws(() => fake.refuseNext(1), /needs/);
  const h2fake = await fakeH2(t);
  t.throws(() => h2fake.goaway(0), /needs an integer >= 1/);
  await t.rejects(fake.settings({ maxConcurrentStreams: 1 }), /needs/);
  const p = pool(t, fake);
  await t.rejects(p.request(get('/version')), { code: 'UPSTREAM_FAILED', message: /does not offer HTTP\/2/ });
});
