/**
 * Forwarding with http-proxy: bodies stream both ways unbuffered (watch events and log lines reach the
 * client as they leave the API server; pipe() applies backpressure to slow clients), over the upstream's
 * keep-alive agent with TLS verified. The caller has already computed the sanitised headers.
 */
import type { ClientRequest, IncomingMessage, ServerResponse, OutgoingHttpHeaders } from 'node:http';
import httpProxy from 'http-proxy';
import { tapBody } from '../audit/capture.js';
import { KubegateError } from '../errors/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Exchange } from '../request/exchange.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Limits } from './limits.js';

/** What forwarding needs of the request's lifecycle owner. */
export type ForwardScope = Pick<Exchange, 'signal' | 'endedBy' | 'markForwarded' | 'ctx' | 'onStop' | 'responseStarted' | 'captureLimit' | 'captured'>;

export interface Forwarder {
  /**
   * Resolves when the response connection has closed (finished, client gone, or ended by a limit or an
   * upstream failure, each reported to `scope`); rejects (coded) if the API server could not be asked
   * and nothing was sent. Opens nothing once `scope.signal` is aborted, and releases the upstream
   * request as soon as it is.
   */
  forward(req: IncomingMessage, res: ServerResponse, headers: OutgoingHttpHeaders, limits: Limits, scope: ForwardScope): Promise<void>;
  close(): void;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET']);

export interface ForwarderOptions {
  metrics?: Pick<Metrics, 'upstreamDuration'>;
  /** True while kubegate shuts down: answers then carry `Connection: close`. */
  draining?: () => boolean;
}

export function createForwarder(upstream: Upstream, opts: ForwarderOptions = {}): Forwarder {
  const { metrics, draining } = opts;
  const proxy = httpProxy.createProxyServer({ secure: true, changeOrigin: true, xfwd: false, ws: false });
  // http-proxy's deleteLength pass sets `content-length: 0` on a DELETE or OPTIONS without one and drops
  // `transfer-encoding`, then streams the body anyway: a chunked body would land unframed on the shared
  // upstream connection and be read as a second, smuggled request. Framing headers pass through as the
  // client sent them (Node decoded and re-encodes the body accordingly), so the pass must go.
  withoutPass(proxy, 'webPasses', 'deleteLength');
  const timedOut = new WeakSet<IncomingMessage>();
  // When each forwarded request was handed to http-proxy, for the upstream latency histogram.
  const startedAt = new WeakMap<IncomingMessage, { at: bigint; verb: string }>();
  // The API server's response to each forwarded request, so a shutdown can end a watch cleanly.
  const responses = new WeakMap<IncomingMessage, IncomingMessage>();
  // The upstream request of each forwarded request, once http-proxy has created it.
  const attach = new WeakMap<IncomingMessage, (proxyReq: ClientRequest) => void>();
  // The lifecycle owner of each forwarded request and whether it is long-running (audit stages, body capture).
  const scopes = new WeakMap<IncomingMessage, { scope: ForwardScope; longRunning: boolean }>();

  // http-proxy emits this when the upstream request gets its connection, before headers are written.
  proxy.on('proxyReq', (proxyReq, req) => {
    // The exact request target kubegate authorised and audited, under the kubeconfig server's path
    // prefix; http-proxy's own join would collapse `//`, drop the prefix and turn `\` into `/`.
    proxyReq.path = upstreamPath(upstream, req);
    // A body that does not match its Content-Length fails the request instead of desynchronising the connection.
    (proxyReq as ClientRequest & { strictContentLength: boolean }).strictContentLength = true;
    proxyReq.on('timeout', () => timedOut.add(req));
    attach.get(req)?.(proxyReq);
  });

  // Node holds response headers back until the first body write, so a watch or `logs -f` would show
  // its client nothing (not even the 200) until the first event. For a streamed response (no
  // Content-Length), send the headers as soon as the API server sent them, once http-proxy has copied them.
  proxy.on('proxyRes', (proxyRes, req, res) => {
    responses.set(req, proxyRes);
    const started = startedAt.get(req);
    if (started && metrics) metrics.upstreamDuration.observe({ verb: started.verb }, Number(process.hrtime.bigint() - started.at) / 1e9);
    // http-proxy copies the status line as it came: an invalid code or reason phrase would throw in
    // writeHead and crash the process. Keep codes Node accepts; let Node write the standard phrase.
    if (!proxyRes.statusCode || proxyRes.statusCode < 100 || proxyRes.statusCode > 999) proxyRes.statusCode = 502;
    // Shutting down: the client's next request goes to another replica (http-proxy keeps a Connection
    // header that is already set, and would otherwise set keep-alive).
    if (draining?.()) proxyRes.headers.connection = 'close';
    proxyRes.statusMessage = '';
    const owner = scopes.get(req);
    if (owner) {
      // RequestResponse: a copy of the answer as it passes (never a watch or a log stream).
      const limit = owner.longRunning ? 0 : owner.scope.captureLimit('response');
      if (limit > 0) {
        const tap = tapBody(proxyRes, limit, proxyRes.headers);
        owner.scope.captured('response', tap.result);
      }
      // A watch or log stream is on record (ResponseStarted) as soon as it starts.
      if (owner.longRunning) owner.scope.responseStarted(proxyRes.statusCode);
    }
    if (proxyRes.headers['content-length'] !== undefined) return;
    queueMicrotask(() => {
      if (!res.headersSent && !res.destroyed) res.flushHeaders();
    });
  });

  return {
    forward(req, res, headers, limits, scope) {
      // A client that has gone gets nothing opened on its behalf.
      if (scope.signal.aborted) return Promise.resolve();
      // http-proxy copies req.headers to the upstream request: hand it the sanitised set only.
      req.headers = headers as IncomingMessage['headers'];
      return new Promise<void>((resolve, reject) => {
        let upstreamReq: ClientRequest | undefined;
        // http-proxy does not end the upstream request when a GET's client disconnects (it waits for
        // 'aborted', which Node no longer emits once the request body is complete), and its request may
        // not even have a connection yet: end it here, whenever it appears, or watches and sockets leak.
        const release = () => upstreamReq?.destroy();
        attach.set(req, (proxyReq) => {
          upstreamReq = proxyReq;
          if (scope.signal.aborted) return void proxyReq.destroy();
          // Forwarded: the whole request was handed to the API server's connection, or it answered.
          proxyReq.once('finish', scope.markForwarded);
          proxyReq.once('response', scope.markForwarded);
        });
        scope.signal.addEventListener('abort', release, { once: true });
        let maxTimer: NodeJS.Timeout | undefined;
        if (limits.maxMs > 0) {
          maxTimer = setTimeout(() => {
            scope.endedBy('timed-out');
            release();
            res.destroy();
          }, limits.maxMs);
        }
        res.once('close', () => {
          clearTimeout(maxTimer);
          scope.signal.removeEventListener('abort', release);
          resolve();
        });
        if (limits.longRunning) {
          // Shutting down: a started watch or log stream ends with a normal end of stream (the client
          // re-lists and re-watches, on another replica); one not started yet is closed.
          scope.onStop(() => {
            if (res.writableEnded || res.destroyed) return;
            scope.endedBy('shutdown');
            responses.get(req)?.unpipe(res);
            release();
            if (res.headersSent) res.end();
            else res.destroy();
          });
        }
        const options: httpProxy.ServerOptions = { target: upstream.target, agent: upstream.agent() };
        if (limits.idleMs > 0) options.proxyTimeout = limits.idleMs;
        startedAt.set(req, { at: process.hrtime.bigint(), verb: scope.ctx.info.verb });
        scopes.set(req, { scope, longRunning: limits.longRunning });
        proxy.web(req, res, options, (err: NodeJS.ErrnoException) => {
          clearTimeout(maxTimer);
          if (scope.signal.aborted) return resolve();
          if (res.headersSent) {
            scope.endedBy(timedOut.has(req) ? 'timed-out' : 'upstream-failed');
            res.destroy();
            resolve();
            return;
          }
          const code = timedOut.has(req) ? 'UPSTREAM_TIMEOUT' : UNREACHABLE.has(err.code ?? '') ? 'UPSTREAM_UNREACHABLE' : 'UPSTREAM_FAILED';
          reject(new KubegateError(code, `forwarding to the API server failed: ${err.code ?? err.message}`, { cause: err, details: { errno: err.code ?? 'unknown' } }));
        });
        // Request/RequestResponse: a copy of the body as it streams upstream. http-proxy has piped the
        // request synchronously above; this only listens alongside (no delay, backpressure untouched).
        const requestLimit = scope.captureLimit('request');
        if (requestLimit > 0) scope.captured('request', tapBody(req, requestLimit, headers as Record<string, string | undefined>).result);
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
