/**
 * Benchmark upstream: a minimal HTTPS server shaped like the API server for the measured paths. Not an
 * API server and not a test fake: it answers fast and checks nothing. Run as a child process (IPC):
 *   GET  /api/v1/namespaces/default/configmaps/small   small JSON object
 *   GET  /api/v1/namespaces/default/pods?watch=1       held-open watch; parent sends {cmd:'emit'} to push one event to all
 *   GET  /api/v1/big?bytes=N                           an N-byte JSON list, streamed with backpressure
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const [certFile, keyFile] = process.argv.slice(2);
const small = JSON.stringify({
  kind: 'ConfigMap',
  apiVersion: 'v1',
  metadata: { name: 'small', namespace: 'default', resourceVersion: '42', uid: '7d3c7a5e-8f1e-4b7a-9f5e-2b1c0d9e8f7a' },
  data: { greeting: 'hello', answer: '42' },
});
const watchers = new Set<ServerResponse>();
let seq = 0;

const server = createServer({ cert: readFileSync(certFile!), key: readFileSync(keyFile!) }, (req, res) => {
  const url = req.url ?? '/';
  if (url.startsWith('/api/v1/namespaces/default/configmaps/small')) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(small) });
    res.end(small);
  } else if (url.startsWith('/api/v1/namespaces/default/pods') && /[?&]watch=(1|true)/.test(url)) {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    watchers.add(res);
    res.on('close', () => watchers.delete(res));
  } else if (url.startsWith('/api/v1/big')) {
    const total = Number(new URL(url, 'https://x').searchParams.get('bytes') ?? 0);
    streamBig(res, total);
  } else {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"kind":"Status","code":404}');
  }
});
server.keepAliveTimeout = 60_000;
server.maxConnections = 30_000;

function streamBig(res: ServerResponse, total: number): void {
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
    process.send?.({ watchers: watchers.size });
  }
});

server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
