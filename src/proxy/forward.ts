/**
 * Forwarding with http-proxy: bodies stream both ways unbuffered (watch events and log lines reach the
 * client as they leave the API server; pipe() applies backpressure to slow clients), over the upstream's
 * keep-alive agent with TLS verified. The caller has already computed the sanitised headers.
 */
import type { ClientRequest, IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http';
import httpProxy from 'http-proxy';
import { KubegateError } from '../errors/errors.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Limits } from './limits.js';

export interface Forwarder {
  /** Resolves when the response has been sent or the client went away; rejects (coded) if nothing could be sent. */
  forward(req: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders, limits: Limits): Promise<void>;
  close(): void;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET']);

export function createForwarder(upstream: Upstream): Forwarder {
  const proxy = httpProxy.createProxyServer({ secure: true, changeOrigin: true, xfwd: false, ws: false });
  // http-proxy's deleteLength pass sets `content-length: 0` on a DELETE or OPTIONS without one and drops
  // `transfer-encoding`, then streams the body anyway: a chunked body would land unframed on the shared
  // upstream connection and be read as a second, smuggled request. Framing headers pass through as the
  // client sent them (Node decoded and re-encodes the body accordingly), so the pass must go.
  withoutPass(proxy, 'webPasses', 'deleteLength');
  const timedOut = new WeakSet<IncomingMessage>();

  proxy.on('proxyReq', (proxyReq, req, res) => {
    // The exact request target kubegate authorised and audited, under the kubeconfig server's path
    // prefix; http-proxy's own join would collapse `//`, drop the prefix and turn `\` into `/`.
    proxyReq.path = upstreamPath(upstream, req);
    // A body that does not match its Content-Length fails the request instead of desynchronising the connection.
    (proxyReq as ClientRequest & { strictContentLength: boolean }).strictContentLength = true;
    // http-proxy does not end the upstream request when a GET's client disconnects (it waits for
    // 'aborted', which Node no longer emits once the request body is complete): do it here, or watches leak.
    res.on('close', () => {
      if (!res.writableFinished) proxyReq.destroy();
    });
    proxyReq.on('timeout', () => timedOut.add(req));
  });

  // Node holds response headers back until the first body write, so a watch or `logs -f` would show
  // its client nothing (not even the 200) until the first event. For a streamed response (no
  // Content-Length), send the headers as soon as the API server sent them, once http-proxy has copied them.
  proxy.on('proxyRes', (proxyRes, _req, res) => {
    // http-proxy copies the status line as it came: an invalid code or reason phrase would throw in
    // writeHead and crash the process. Keep codes Node accepts; let Node write the standard phrase.
    if (!proxyRes.statusCode || proxyRes.statusCode < 100 || proxyRes.statusCode > 999) proxyRes.statusCode = 502;
    proxyRes.statusMessage = '';
    if (proxyRes.headers['content-length'] !== undefined) return;
    queueMicrotask(() => {
      if (!res.headersSent && !res.destroyed) res.flushHeaders();
    });
  });

  return {
    forward(req, res, headers, limits) {
      // http-proxy copies req.headers to the upstream request: hand it the sanitised set only.
      req.headers = headers as IncomingMessage['headers'];
      return new Promise<void>((resolve, reject) => {
        let maxTimer: NodeJS.Timeout | undefined;
        if (limits.maxMs > 0) maxTimer = setTimeout(() => res.destroy(), limits.maxMs);
        res.once('close', () => {
          clearTimeout(maxTimer);
          resolve();
        });
        const options: httpProxy.ServerOptions = { target: upstream.target, agent: upstream.agent() };
        if (limits.idleMs > 0) options.proxyTimeout = limits.idleMs;
        proxy.web(req, res, options, (err: NodeJS.ErrnoException) => {
          clearTimeout(maxTimer);
          if (res.headersSent) {
            res.destroy();
            resolve();
            return;
          }
          const code = timedOut.has(req) ? 'UPSTREAM_TIMEOUT' : UNREACHABLE.has(err.code ?? '') ? 'UPSTREAM_UNREACHABLE' : 'UPSTREAM_FAILED';
          reject(new KubegateError(code, `forwarding to the API server failed: ${err.code ?? err.message}`, { cause: err, details: { errno: err.code ?? 'unknown' } }));
        });
      });
    },
    close() {
      proxy.close();
    },
  };
}

/** The path sent upstream: the kubeconfig server's path prefix, then the request target as received. */
export function upstreamPath(upstream: Upstream, req: IncomingMessage): string {
  return upstream.pathPrefix + (req.url ?? '/');
}

/** Remove one of http-proxy's passes by name (its passes are named functions on the instance). */
export function withoutPass(proxy: httpProxy, list: 'webPasses' | 'wsPasses', name: string): void {
  const holder = proxy as unknown as Record<string, { name: string }[]>;
  const before = holder[list]!;
  holder[list] = before.filter((p) => p.name !== name);
  if (holder[list]!.length !== before.length - 1) throw new Error(`http-proxy has no ${list} pass named ${name}: re-check after upgrading it`);
}
