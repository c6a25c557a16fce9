/**
 * The floor for a Node.js proxy: TLS in, TLS out (verified with the bench CA), one trivial header rewrite
 * (drop the client's Authorization, add the proxy's own Authorization and an Impersonate-User, as every
 * impersonating proxy must), pipe, nothing else (no authentication, no hygiene, no audit). Measured beside
 * kubegate in the same run, so kubegate's own cost over "Node itself" can be read off.
 *
 * argv: CERT KEY CA TARGET [MODE]; MODE (or BENCH_FLOOR) is one of
 *   https       node:https listener, https.request over a keep-alive https.Agent (the classic Node pipe)
 *   undici      node:https listener, an undici 7 Pool (keep-alive, pool.stream) as the upstream client
 *   h2          node:http2 on both sides: http2.createSecureServer({ allowHTTP1 }) listener (compat API) and
 *               a small pool of upstream HTTP/2 sessions (streams up to the server's SETTINGS limit)
 *   http-proxy  node:https listener, http-proxy with a keep-alive agent
 * Prints `READY <port>` once listening.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http2, { type ClientHttp2Session, type Http2ServerRequest, type Http2ServerResponse, type IncomingHttpHeaders as H2Headers } from 'node:http2';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import httpProxy from 'http-proxy';
import { Pool } from 'undici';

const [certFile, keyFile, caFile, target, modeArg] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const mode = modeArg ?? process.env.BENCH_FLOOR ?? 'https';
const ca = readFileSync(caFile);
const serving = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
const PROXY_TOKEN = 'Bearer bench-service-account-token';
const IMPERSONATE_USER = 'bench@example.com';

/** Headers no HTTP/2 message and no undici request may carry (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'http2-settings', 'te']);

/** The rewrite every floor does: the client's credential out, the proxy's identity headers in. */
function rewrite(headers: IncomingHttpHeaders | H2Headers, dropConnectionSpecific: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (name === 'authorization' || name.startsWith('impersonate-') || name.charCodeAt(0) === 58 /* ':' */) continue;
    if (dropConnectionSpecific && CONNECTION_SPECIFIC.has(name)) continue;
    out[name] = headers[name];
  }
  out.authorization = PROXY_TOKEN;
  out['impersonate-user'] = IMPERSONATE_USER;
  return out;
}

/** Response headers minus pseudo-headers and connection-specific ones (for an HTTP/2 or re-framed response). */
function responseHeaders(headers: IncomingHttpHeaders | H2Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (name.charCodeAt(0) !== 58 && !CONNECTION_SPECIFIC.has(name)) out[name] = headers[name];
  return out;
}

const hasBody = (req: IncomingMessage | Http2ServerRequest) => req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;

function fail(res: ServerResponse | Http2ServerResponse): void {
  if (!res.headersSent) {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end('{"kind":"Status","code":502}');
  } else if ('stream' in res) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function httpsFloor(): Handler {
  const agent = new https.Agent({ keepAlive: true, ca });
  return (req, res) => {
    const up = https.request(target + (req.url ?? '/'), { method: req.method, headers: rewrite(req.headers, false), agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => fail(res));
    res.on('close', () => up.destroy());
    req.pipe(up);
  };
}

function undiciFloor(): Handler {
  const pool = new Pool(target, { connections: 256, pipelining: 1, connect: { ca } });
  return (req, res) => {
    pool.stream(
      { path: req.url ?? '/', method: (req.method ?? 'GET') as 'GET', headers: rewrite(req.headers, true) as Record<string, string>, body: hasBody(req) ? req : null, opaque: res },
      ({ statusCode, headers, opaque }) => {
        opaque.writeHead(statusCode, responseHeaders(headers));
        if (headers['content-length'] === undefined) opaque.flushHeaders();
        return opaque;
      },
      (err) => {
        if (err) fail(res);
      },
    );
  };
}

function httpProxyFloor(): Handler {
  const agent = new https.Agent({ keepAlive: true, ca });
  const proxy = httpProxy.createProxyServer({ target, agent, secure: true, changeOrigin: true });
  proxy.on('proxyReq', (proxyReq) => {
    proxyReq.removeHeader('authorization');
    proxyReq.setHeader('authorization', PROXY_TOKEN);
    proxyReq.setHeader('impersonate-user', IMPERSONATE_USER);
  });
  proxy.on('error', (_err, _req, res) => {
    if ('writeHead' in res) fail(res);
  });
  return (req, res) => proxy.web(req, res);
}

/** Upstream HTTP/2 sessions: take the first with a free stream slot, open another when all are full. */
function h2Pool(): { request(headers: OutgoingHttpHeaders): http2.ClientHttp2Stream } {
  interface Slot { session: ClientHttp2Session; active: number; max: number }
  const slots: Slot[] = [];
  const STREAM_WINDOW = 1024 * 1024;
  const open = (): Slot => {
    const session = http2.connect(target, { ca, settings: { enablePush: false, initialWindowSize: STREAM_WINDOW }, maxSessionMemory: 128 });
    const slot: Slot = { session, active: 0, max: 100 };
    session.on('connect', () => session.setLocalWindowSize(100 * STREAM_WINDOW));
    session.on('remoteSettings', (s) => (slot.max = s.maxConcurrentStreams ?? 100));
    const drop = () => {
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
    };
    session.on('goaway', () => {
      drop();
      session.close(); // no new streams; the ones in flight finish
    });
    session.on('close', drop);
    session.on('error', drop);
    slots.push(slot);
    return slot;
  };
  return {
    request(headers) {
      const slot = slots.find((s) => s.active < s.max) ?? open();
      slot.active++;
      const stream = slot.session.request(headers);
      stream.on('close', () => slot.active--);
      return stream;
    },
  };
}

function h2Floor(): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void {
  const pool = h2Pool();
  return (req, res) => {
    const headers = rewrite(req.headers, true);
    headers[':method'] = req.method;
    headers[':path'] = req.url;
    const up = pool.request(headers);
    up.on('response', (h) => {
      res.writeHead(Number(h[':status'] ?? 502), responseHeaders(h));
      // A watch has no content-length: send its head now. Otherwise the head goes out with the body.
      if (h['content-length'] === undefined && 'flushHeaders' in res) res.flushHeaders();
      up.pipe(res as NodeJS.WritableStream);
    });
    up.on('error', () => fail(res));
    // The client left: cancel the upstream stream, but only one still receiving. An RST_STREAM(CANCEL)
    // for a stream whose response had fully arrived (END_STREAM seen, 'close' not yet emitted) made the
    // Node http2 upstream answer GOAWAY(INTERNAL_ERROR), failing every other stream on that session.
    res.on('close', () => {
      if (!up.closed && !up.readableEnded) up.close(http2.constants.NGHTTP2_CANCEL);
    });
    if (hasBody(req)) (req as NodeJS.ReadableStream).pipe(up);
    else up.end();
  };
}

const server =
  mode === 'h2'
    ? http2.createSecureServer({ ...serving, allowHTTP1: true, settings: { maxConcurrentStreams: 250, initialWindowSize: 1024 * 1024 } }, h2Floor())
    : https.createServer(serving, mode === 'undici' ? undiciFloor() : mode === 'http-proxy' ? httpProxyFloor() : mode === 'https' ? httpsFloor() : unknownMode());
(server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = 60_000;
// node:https sets TCP_NODELAY on its sockets; an http2 server's HTTP/1.1 fallback does not, and Nagle plus
// delayed ACKs then cost ~40 ms per request whenever a response goes out in two writes.
server.on('connection', (socket: import('node:net').Socket) => socket.setNoDelay(true));

function unknownMode(): never {
  process.stderr.write(`floor-proxy: unknown mode ${JSON.stringify(mode)} (https, undici, h2 or http-proxy)\n`);
  process.exit(2);
}

server.listen(0, '127.0.0.1', () => process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`));
