/**
 * Forwarding with http-proxy: bodies stream both ways unbuffered, over the upstream's keep-alive agent
 * with TLS verified. The caller has already replaced the request's headers with the sanitised set.
 */
import type { IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http';
import httpProxy from 'http-proxy';
import { KubegateError } from '../errors/errors.js';
import type { Upstream } from '../upstream/upstream.js';

export interface Forwarder {
  /** Resolves when the response has been fully sent or the client went away; rejects (coded) if nothing could be sent. */
  forward(req: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders): Promise<void>;
  close(): void;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET']);

export function createForwarder(upstream: Upstream): Forwarder {
  const proxy = httpProxy.createProxyServer({ secure: true, changeOrigin: true, xfwd: false, ws: false });

  // http-proxy does not end the upstream request when a GET's client disconnects (it waits for 'aborted',
  // which Node no longer emits once the request body is complete): do it here, or watches leak upstream.
  proxy.on('proxyReq', (proxyReq, _req, res) => {
    res.on('close', () => {
      if (!res.writableFinished) proxyReq.destroy();
    });
  });

  return {
    forward(req, res, headers) {
      // http-proxy copies req.headers to the upstream request: hand it the sanitised set only.
      req.headers = headers as IncomingMessage['headers'];
      return new Promise<void>((resolve, reject) => {
        res.once('close', () => resolve());
        proxy.web(req, res, { target: upstream.target, agent: upstream.agent() }, (err: NodeJS.ErrnoException) => {
          if (res.headersSent) {
            res.destroy();
            resolve();
            return;
          }
          const code = UNREACHABLE.has(err.code ?? '') ? 'UPSTREAM_UNREACHABLE' : 'UPSTREAM_FAILED';
          reject(new KubegateError(code, `forwarding to the API server failed: ${err.code ?? err.message}`, { cause: err, details: { errno: err.code ?? 'unknown' } }));
        });
      });
    },
    close() {
      proxy.close();
    },
  };
}
