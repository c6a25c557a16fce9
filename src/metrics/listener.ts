/**
 * The Prometheus scrape endpoint on its own listener (`server.metricsBindAddress`, `HOST:PORT`), never on
 * the user-facing one: plain HTTP, `GET /metrics` only, loopback by default.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubegateError } from '../errors/errors.js';

export interface MetricsListener {
  /** http://host:port of the listener (the real port when 0 was asked for). */
  readonly url: string;
  close(): Promise<void>;
}

/** What a scrape returns: prom-client's text format and its content type. */
export type Scrape = () => Promise<{ contentType: string; body: string }>;

/** @throws KubegateError LISTEN_FAILED when the address cannot be listened on. */
export async function startMetricsListener(bindAddress: string, scrape: Scrape): Promise<MetricsListener> {
  const split = bindAddress.lastIndexOf(':');
  const host = bindAddress.slice(0, split).replace(/^\[(.*)\]$/, '$1');
  const port = Number(bindAddress.slice(split + 1));
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('only GET /metrics is served here\n');
      return;
    }
    scrape().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`collecting metrics failed: ${err.message}\n`),
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new KubegateError('LISTEN_FAILED', `cannot listen for metrics on ${bindAddress} (--metrics-bind-address): ${err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message}`, { cause: err })),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
