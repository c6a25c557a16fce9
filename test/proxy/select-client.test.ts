/**
 * upstream.protocol: which client carries requests to the API server. `auto` asks the API server by ALPN
 * (a real TLS handshake against loopback servers that do and do not offer h2).
 */
import t from 'tap';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { selectUpstreamClient } from '../../src/proxy/select-client.js';
import type { UpstreamClient, UpstreamRequest } from '../../src/proxy/upstream-client.js';
import { createPki } from '../support/pki.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** An UpstreamClient that only counts what it is asked (stands in for the HTTP/2 pool). */
function countingClient(): UpstreamClient & { calls: number } {
  const c = {
    calls: 0,
    request: () => {
      c.calls++;
      return Promise.reject(Object.assign(new Error('stand-in'), { code: 'STAND_IN' }));
    },
    close() {},
    destroy() {},
  };
  return c;
}

async function serve(t: Test, kind: 'h1' | 'h2+h1') {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const pair = pki.server();
  const handler = (_req: unknown, res: { end(body: string): void }) => res.end('over HTTP/1.1');
  const server = kind === 'h1' ? https.createServer({ cert: pair.cert, key: pair.key }, handler) : http2.createSecureServer({ cert: pair.cert, key: pair.key, allowHTTP1: true }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const target = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const tlsOptions: tls.ConnectionOptions = { ca: pki.ca, servername: 'localhost' };
  const agent = new https.Agent({ keepAlive: true, ...tlsOptions });
  t.teardown(() => agent.destroy());
  return { target, agent: () => agent, tlsOptions: () => tlsOptions };
}

const request = (): UpstreamRequest => ({ method: 'GET', path: '/', headers: {}, body: null, signal: new AbortController().signal, idleMs: 0, onSent: () => {} });

t.test('auto: an API server offering h2 gets the HTTP/2 client', async (t) => {
  const upstream = await serve(t, 'h2+h1');
  const h2 = countingClient();
  const client = selectUpstreamClient('auto', { upstream, http2: () => h2 });
  await t.rejects(Promise.all([client.request(request()), client.request(request())]), { code: 'STAND_IN' });
  t.equal(h2.calls, 2, 'both requests (one waited for the answer) went to the HTTP/2 client');
});

t.test('auto: an API server offering only HTTP/1.1 gets the HTTP/1.1 client; the HTTP/2 one is never built', async (t) => {
  const upstream = await serve(t, 'h1');
  let built = false;
  const client = selectUpstreamClient('auto', { upstream, http2: () => ((built = true), countingClient()) });
  const answer = await client.request(request());
  t.equal(answer.httpVersion, '1.1');
  t.equal(answer.status, 200);
  answer.body.resume();
  t.notOk(built);
});

t.test('auto: while the API server cannot be reached, requests use HTTP/1.1 and the question is asked again later', async (t) => {
  const upstream = await serve(t, 'h2+h1');
  let asked = 0;
  const h2 = countingClient();
  const answers: (string | false | Error)[] = [new Error('refused'), 'h2'];
  let clock = 1_000_000;
  const client = selectUpstreamClient('auto', {
    upstream,
    http2: () => h2,
    now: () => clock,
    askAlpn: () => {
      const a = answers[asked++]!;
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
  });
  const first = await client.request(request());
  t.equal(first.httpVersion, '1.1', 'the first request went over HTTP/1.1');
  first.body.resume();
  t.equal(asked, 1);
  const second = await client.request(request());
  second.body.resume();
  t.equal(asked, 1, 'not asked again right away');
  t.equal(h2.calls, 0);
  clock += 10_001;
  await t.rejects(client.request(request()), { code: 'STAND_IN' });
  t.equal(asked, 2, 'asked again 10 s later');
  t.equal(h2.calls, 1, 'and the answer (h2) is used from then on');
});

t.test('auto: an API server that stops offering h2 is asked again; the requests after go over HTTP/1.1', async (t) => {
  const upstream = await serve(t, 'h1');
  let asked = 0;
  const answers = ['h2', 'http/1.1'];
  // Stands in for the HTTP/2 pool finding, on a new connection, that ALPN no longer gives h2.
  let noHttp2Seen = false;
  const h2: UpstreamClient = {
    request: () => {
      if (noHttp2Seen) onNoHttp2();
      return Promise.reject(Object.assign(new Error('does not offer HTTP/2'), { code: 'UPSTREAM_FAILED' }));
    },
    close() {},
    destroy() {},
  };
  let onNoHttp2: () => void = () => {};
  const client = selectUpstreamClient('auto', {
    upstream,
    http2: (cb) => ((onNoHttp2 = cb), h2),
    askAlpn: () => Promise.resolve(answers[asked++]!),
  });
  await t.rejects(client.request(request()), { code: 'UPSTREAM_FAILED' });
  await t.rejects(client.request(request()), { code: 'UPSTREAM_FAILED' }, 'an HTTP/2 failure of another kind changes nothing');
  t.equal(asked, 1, 'asked once so far');
  noHttp2Seen = true;
  await t.rejects(client.request(request()), { code: 'UPSTREAM_FAILED' }, 'the request that found no h2 fails as before');
  const answer = await client.request(request());
  t.equal(asked, 2, 'the next request asked again');
  t.equal(answer.httpVersion, '1.1', 'and went over HTTP/1.1');
  t.equal(answer.status, 200);
  answer.body.resume();
});

t.test('http1 and http2 are taken as set', async (t) => {
  const upstream = await serve(t, 'h2+h1');
  const h2 = countingClient();
  await t.rejects(selectUpstreamClient('http2', { upstream, http2: () => h2 }).request(request()), { code: 'STAND_IN' });
  t.equal(h2.calls, 1);
  const answer = await selectUpstreamClient('http1', { upstream, http2: () => h2 }).request(request());
  t.equal(answer.httpVersion, '1.1');
  answer.body.resume();
  t.equal(h2.calls, 1);
});
