/**
 * Benchmark upstream: a minimal TLS server shaped like the API server for the measured paths, speaking
 * HTTP/2 and HTTP/1.1 on one port (ALPN h2 or http/1.1, as kube-apiserver does, with its default of 100
 * concurrent streams per HTTP/2 connection). Not an API server and not a test fake: it answers fast and
 * checks nothing. Run as a child process (IPC):
 *   GET  /api/v1/namespaces/default/configmaps/small   small JSON object
 *   GET  /api/v1/namespaces/default/pods?watch=1       held-open watch; parent sends {cmd:'emit'} to push one event to all
 *   GET  /api/v1/big?bytes=N                           an N-byte JSON list, streamed with backpressure
 * Parent messages: {cmd:'emit'} → {emitted, seq}; {cmd:'count'} → {watchers, h1, h2}.
 */
import { readFileSync } from 'node:fs';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Req = IncomingMessage | Http2ServerRequest;
/** What this server uses of a response, on both protocols (the two compat classes' signatures differ). */
interface Res {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  write(chunk: string | Buffer): boolean;
  end(chunk?: string | Buffer): unknown;
  on(event: 'close', fn: () => void): unknown;
  once(event: 'drain', fn: () => void): unknown;
  flushHeaders?: () => void;
}

const [certFile, keyFile] = process.argv.slice(2);
const small = JSON.stringify({
  kind: 'ConfigMap',
  apiVersion: 'v1',
  metadata: { name: 'small', namespace: 'default', resourceVersion: '42', uid: '7d3c7a5e-8f1e-4b7a-9f5e-2b1c0d9e8f7a' },
  data: { greeting: 'hello', answer: '42' },
});
const smallLength = Buffer.byteLength(small);
const watchers = new Set<Res>();
let seq = 0;

const server = http2.createSecureServer(
  {
    cert: readFileSync(certFile!),
    key: readFileSync(keyFile!),
    allowHTTP1: true,
    // kube-apiserver's default (--http2-max-streams-per-connection) and its 256 KiB upload buffer per stream.
    settings: { maxConcurrentStreams: 100, initialWindowSize: 256 * 1024 },
    // 10,000 watches over HTTP/2 sessions: keep nghttp2 from refusing streams for memory.
    maxSessionMemory: 64,
  },
  (req: Req, response: ServerResponse | Http2ServerResponse) => {
    const res = response as unknown as Res;
    const url = req.url ?? '/';
    if (url.startsWith('/api/v1/namespaces/default/configmaps/small')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': smallLength });
      res.end(small);
    } else if (url.startsWith('/api/v1/namespaces/default/pods') && /[?&]watch=(1|true)/.test(url)) {
      // No content-length: HTTP/1.1 chunks it, HTTP/2 frames it (transfer-encoding is illegal there).
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders?.();
      watchers.add(res);
      res.on('close', () => watchers.delete(res));
    } else if (url.startsWith('/api/v1/big')) {
      const total = Number(new URL(url, 'https://x').searchParams.get('bytes') ?? 0);
      streamBig(res, total);
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","code":404}');
    }
  },
);
// HTTP/1.1 fallback connections: keep them open between load runs, and hold many watches.
(server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = 60_000;
server.maxConnections = 30_000;
server.setTimeout(0);
// The HTTP/1.1 fallback of an http2 server leaves Nagle on (node:https turns it off).
server.on('connection', (socket: import('node:net').Socket) => socket.setNoDelay(true));

function streamBig(res: Res, total: number): void {
  const head = Buffer.from('{"kind":"List","apiVersion":"v1","items":[');
  const tail = Buffer.from('{}]}');
  const item = Buffer.from('{"metadata":{"name":"item"},"data":{"v":"' + 'x'.repeat(950) + '"}},');
  const chunk = Buffer.concat(Array.from({ length: 64 }, () => item)); // ~64 KiB
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': total });
  let sent = 0;
  const pump = () => {
    if (sent === 0) {
      res.write(head);
      sent += head.length;
    }
    while (sent < total - tail.length) {
      const n = Math.min(chunk.length, total - tail.length - sent);
      sent += n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end(tail);
  };
  pump();
}

process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'emit') {
    seq++;
    const line = `{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","resourceVersion":"${seq}"}},"sentAt":${performance.timeOrigin + performance.now()}}\n`;
    for (const res of watchers) res.write(line);
    process.send?.({ emitted: watchers.size, seq });
  } else if (msg.cmd === 'count') {
    let h2 = 0;
    for (const res of watchers) if ('stream' in res) h2++;
    process.send?.({ watchers: watchers.size, h1: watchers.size - h2, h2 });
  }
});

server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
