/**
 * The HTTP/1.1 upstream client against a real TLS server on loopback: framing it sets itself, the one
 * retry of an idempotent request that met a keep-alive connection closed under it, and release on abort.
 */
import t from 'tap';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { createH1Client } from '../../src/proxy/h1-client.js';
import type { UpstreamRequest } from '../../src/proxy/upstream-client.js';
import { createPki } from '../support/pki.js';

interface Seen { method: string; url: string; te: string | undefined; length: string | undefined; body: string; requestOnSocket: number }

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function startServer(t: Test, handle: (seen: Seen, res: import('node:http').ServerResponse, socket: Socket) => void) {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const seen: Seen[] = [];
  const perSocket = new WeakMap<Socket, number>();
  const pair = pki.server();
  const server = https.createServer({ cert: pair.cert, key: pair.key, keepAliveTimeout: 60_000 }, (req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, te: req.headers['transfer-encoding'], length: req.headers['content-length'], body: Buffer.concat(chunks).toString(), requestOnSocket: n };
      seen.push(s);
      handle(s, res, req.socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())));
  const agent = new https.Agent({ keepAlive: true, ca: pki.ca, servername: 'localhost' });
  t.teardown(() => agent.destroy());
  const client = createH1Client({ target: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`), agent: () => agent });
  return { seen, client };
}

function request(over: Partial<UpstreamRequest> = {}): UpstreamRequest {
  return { method: 'GET', path: '/api', headers: {}, body: null, signal: new AbortController().signal, idleMs: 0, onSent: () => {}, ...over };
}

async function text(body: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const c of body) out += String(c);
  return out;
}

t.test('a keep-alive connection the server closes as it is reused: a GET is sent once more on a fresh connection; a POST fails', async (t) => {
  const { seen, client } = await startServer(t, (s, res, socket) => {
    // The second request on any connection finds it closed under it, before any answer.
    if (s.requestOnSocket === 2) return void socket.destroy();
    res.end(`ok ${s.method}`);
  });
  const first = await client.request(request());
  t.equal(await text(first.body), 'ok GET');
  const retried = await client.request(request());
  t.equal(retried.status, 200);
  t.equal(await text(retried.body), 'ok GET', 'answered on a fresh connection');
  t.same(seen.map((s) => s.requestOnSocket), [1, 2, 1], 'the GET met the closed connection once, then a fresh one');

  const post = client.request(request({ method: 'POST', body: new PassThrough().end('{}'), headers: { 'content-length': '2' } }));
  await t.rejects(post, { code: 'UPSTREAM_UNREACHABLE' }, 'a request with a body is never sent twice');
  t.equal(seen.filter((s) => s.method === 'POST').length, 1, 'the POST was seen once');
});

t.test('framing is the client\'s own: Content-Length kept and enforced, any other body chunked', async (t) => {
  const { seen, client } = await startServer(t, (_s, res) => res.end('done'));
  const chunked = await client.request(request({ method: 'DELETE', body: new PassThrough().end('{"a":1}') }));
  await text(chunked.body);
  t.match(seen[0], { method: 'DELETE', te: 'chunked', length: undefined, body: '{"a":1}' }, 'a DELETE body without a length travels chunked, never unframed');
  const sized = await client.request(request({ method: 'PUT', body: new PassThrough().end('12345'), headers: { 'content-length': '5' } }));
  await text(sized.body);
  t.match(seen[1], { method: 'PUT', te: undefined, length: '5', body: '12345' });
  const lying = client.request(request({ method: 'PUT', body: new PassThrough().end('123'), headers: { 'content-length': '5' } }));
  await t.rejects(lying, { code: 'UPSTREAM_FAILED' }, 'a body shorter than its Content-Length fails instead of desynchronising the connection');
});

t.test('aborting releases the upstream request, before or after the head', async (t) => {
  const closed: Promise<void>[] = [];
  const { client } = await startServer(t, (_s, res) => {
    closed.push(new Promise((resolve) => res.once('close', () => resolve())));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
  });
  const ac = new AbortController();
  const answer = await client.request(request({ signal: ac.signal }));
  t.equal(answer.status, 200);
  ac.abort();
  await closed[0];
  t.pass('the server saw the request closed once kubegate released it');
  const early = new AbortController();
  early.abort();
  await t.rejects(client.request(request({ signal: early.signal })), { code: 'UPSTREAM_FAILED' }, 'nothing is sent for an aborted request');
});

t.test('silence past idleMs before the head fails with UPSTREAM_TIMEOUT', async (t) => {
  const { client } = await startServer(t, () => {});
  await t.rejects(client.request(request({ idleMs: 50 })), { code: 'UPSTREAM_TIMEOUT' });
});
