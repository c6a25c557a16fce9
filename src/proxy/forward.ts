/**
 * Forwarding with http-proxy: bodies stream both ways unbuffered (watch events and log lines reach the
 * client as they leave the API server; pipe() applies backpressure to slow clients), over the upstream's
 * keep-alive agent with TLS verified. The caller has already computed the sanitised headers.
 */
import type { IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http';
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
  const timedOut = new WeakSet<IncomingMessage>();

  proxy.on('proxyReq', (proxyReq, req, res) => {
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
    if (proxyRes.headers['content-length'] !== undefined) return;
    queueMicrotask(() => {
      if (!res.headersSent && !res.destroyed) res.flushHeaders();
    });
  });

  return {
    forward(req, res, headers, limits) {
      // An `Upgrade` header without `Connection: upgrade` reaches here as an ordinary request. kubegate
      // relays upgrades only through the upgrade path, so refuse it rather than forward a half-upgrade.
      if (req.headers.upgrade !== undefined) {
        return Promise.reject(new KubegateError('UPGRADE_UNSUPPORTED', 'refused an Upgrade header without Connection: upgrade', { details: { upgrade: req.headers.upgrade.slice(0, 40) } }));
      }
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
