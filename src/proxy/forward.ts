/**
 * The forwarding core: one request to the API server through an {@link UpstreamClient} (HTTP/1.1 or
 * HTTP/2), the answer relayed to the client over whatever protocol the client speaks. Bodies stream both
 * ways unbuffered (watch events and log lines reach the client as they leave the API server; pipe()
 * applies backpressure to slow clients, and the upstream client passes it on to the API server). The
 * caller has already computed the sanitised headers.
 *
 * Everything a request opens is released in one place, the response's `close`: the max-duration timer
 * and, when the response did not run to its end, the upstream request.
 *
 * The upstream request listens to the exchange's own signal (no second AbortController per request):
 * the exchange aborts it when the client goes, the forwarder through `scope.releaseUpstream()` when a
 * limit or a shutdown ends the request, or when the response closed before the answer was relayed whole.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { tapBody } from '../audit/capture.js';
import { responseHeaders } from '../impersonation/headers.js';
import type { Metrics } from '../metrics/metrics.js';
import { asWritable, flushHead, hasBody, isGone, isHttp2Response, resetResponse, writeHead, type ClientRequest, type ClientResponse } from '../net/wire.js';
import type { Exchange } from '../request/exchange.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Limits } from './limits.js';
import type { UpstreamClient } from './upstream-client.js';

/** What forwarding needs of the request's lifecycle owner. */
export type ForwardScope = Pick<Exchange, 'signal' | 'releaseUpstream' | 'endedBy' | 'markForwarded' | 'ctx' | 'onStop' | 'responseStarted' | 'captureLimit' | 'captured'>;

export interface Forwarder {
  /**
   * Resolves when the response connection has closed (finished, client gone, or ended by a limit or an
   * upstream failure, each reported to `scope`); rejects (coded) if the API server could not be asked
   * and nothing was sent. Opens nothing once `scope.signal` is aborted, and releases the upstream
   * request as soon as it is.
   */
  forward(req: ClientRequest, res: ClientResponse, headers: OutgoingHttpHeaders, limits: Limits, scope: ForwardScope): Promise<void>;
  close(): void;
}

export interface ForwarderOptions {
  metrics?: Pick<Metrics, 'upstreamDuration'>;
  /** True while kubegate shuts down: answers to HTTP/1.1 clients then carry `Connection: close`. */
  draining?: () => boolean;
}

export function createForwarder(upstream: Pick<Upstream, 'pathPrefix'>, client: UpstreamClient, opts: ForwarderOptions = {}): Forwarder {
  const { metrics, draining } = opts;
  return {
    forward(req, res, headers, limits, scope) {
      // Aborted when the client leaves (the exchange), or when kubegate ends the request (a limit, a shutdown).
      const signal = scope.signal;
      // A client that has gone gets nothing opened on its behalf.
      if (signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        let body: Readable | undefined;
        let relayed = false;
        let maxTimer: NodeJS.Timeout | undefined;
        if (limits.maxMs > 0) {
          maxTimer = setTimeout(() => {
            scope.endedBy('timed-out');
            scope.releaseUpstream();
            resetResponse(res);
          }, limits.maxMs);
        }
        res.once('close', () => {
          clearTimeout(maxTimer);
          if (!relayed) scope.releaseUpstream();
          resolve();
        });
        if (limits.longRunning) {
          // Shutting down: a started watch or log stream ends with a normal end of stream (the client
          // re-lists and re-watches, on another replica); one not started yet is closed.
          scope.onStop(() => {
            if (res.writableEnded || isGone(res)) return;
            scope.endedBy('shutdown');
            body?.unpipe(asWritable(res));
            scope.releaseUpstream();
            if (res.headersSent) res.end();
            else resetResponse(res);
          });
        }
        const started = metrics === undefined ? 0n : process.hrtime.bigint();
        const requestBody = hasBody(req) ? (req as Readable) : null;
        const requestLimit = requestBody === null ? 0 : scope.captureLimit('request');
        // Request/RequestResponse: a copy of the body as it streams upstream (listens alongside; backpressure untouched).
        if (requestLimit > 0) scope.captured('request', tapBody(requestBody!, requestLimit, headers as Record<string, string | undefined>).result);
        client
          .request({ method: req.method ?? 'GET', path: upstreamPath(upstream, req), headers, body: requestBody, signal, idleMs: limits.idleMs, onSent: scope.markForwarded })
          .then(
            (answer) => {
              // Forwarded: the API server answered.
              scope.markForwarded();
              metrics?.upstreamDuration.observe({ verb: scope.ctx.info.verb }, Number(process.hrtime.bigint() - started) / 1e9);
              body = answer.body;
              if (signal.aborted || isGone(res)) return void answer.body.destroy();
              // Codes Node can write; its standard reason phrase, never the API server's.
              const status = answer.status >= 100 && answer.status <= 999 ? answer.status : 502;
              // RequestResponse: a copy of the answer as it passes (never a watch or a log stream).
              const limit = limits.longRunning ? 0 : scope.captureLimit('response');
              if (limit > 0) scope.captured('response', tapBody(answer.body, limit, answer.headers).result);
              writeHead(res, status, responseHeaders(answer.headers, { http2: isHttp2Response(res), draining: draining?.() ?? false }));
              // A watch or log stream is on record (ResponseStarted) as soon as it starts, and its client sees
              // the head at once rather than at the first event.
              if (limits.longRunning) scope.responseStarted(status);
              if (answer.headers['content-length'] === undefined) flushHead(res);
              // The answer is whole only if its body ended; closed any other way (an error, a reset stream, a
              // lost connection) the client must see a broken response, never a complete one.
              let failure: string | undefined;
              answer.body.on('error', (err: NodeJS.ErrnoException) => void (failure ??= err.code));
              answer.body.once('end', () => (relayed = true));
              answer.body.once('close', () => {
                if (relayed || signal.aborted) return; // whole, or released on purpose (client gone, limit, shutdown)
                scope.endedBy(failure === 'UPSTREAM_TIMEOUT' ? 'timed-out' : 'upstream-failed');
                resetResponse(res);
              });
              answer.body.pipe(asWritable(res));
            },
            (err: unknown) => {
              clearTimeout(maxTimer);
              // The client left, or kubegate ended the request itself: the response is already closed.
              if (signal.aborted) return resolve();
              reject(err);
            },
          );
      });
    },
    close() {
      client.close();
    },
  };
}

/** The path sent upstream: the kubeconfig server's path prefix, then the request target as received. */
export function upstreamPath(upstream: Pick<Upstream, 'pathPrefix'>, req: { url?: string | undefined }): string {
  return upstream.pathPrefix + (req.url ?? '/');
}
