/**
 * The HTTP/1.1 upstream client: node:https over the upstream's keep-alive agent (TLS verified, one shared
 * secure context), behind the protocol-neutral {@link UpstreamClient} contract.
 *
 * Framing is set here, never copied from the client: a body with a Content-Length keeps it (Node fails a
 * body that does not match it, `strictContentLength`, instead of desynchronising the shared connection),
 * any other body is sent chunked. So a request body can never land unframed on a keep-alive connection.
 *
 * Retry: a keep-alive connection the API server closes just as kubegate reuses it fails with ECONNRESET
 * (or EPIPE) before any byte of an answer. Such a request never reached a handler; an idempotent one
 * without a body is sent once more on a fresh connection, as Go's transport does.
 */
import https from 'node:https';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { KubegateError } from '../errors/errors.js';
import { connectTarget } from '../net/wire.js';
import type { Upstream } from '../upstream/upstream.js';
import { IDEMPOTENT_METHODS, type UpstreamClient, type UpstreamRequest, type UpstreamResponse } from './upstream-client.js';

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET']);
/** Errors of a reused connection that closed under the request before any answer. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE']);

export function createH1Client(upstream: Pick<Upstream, 'target' | 'agent'>): UpstreamClient {
  const { host, port } = connectTarget(upstream.target);

  const send = (r: UpstreamRequest, retried: boolean): Promise<UpstreamResponse> =>
    new Promise<UpstreamResponse>((resolve, reject) => {
      if (r.signal.aborted) return reject(new KubegateError('UPSTREAM_FAILED', 'the request was cancelled before it was sent'));
      const headers = r.body !== null && r.headers['content-length'] === undefined ? { ...r.headers, 'transfer-encoding': 'chunked' } : r.headers;
      const req: ClientRequest = https.request({ host, port, method: r.method, path: r.path, headers, agent: upstream.agent() });
      (req as ClientRequest & { strictContentLength: boolean }).strictContentLength = true;
      // node:https's agent leaves Nagle on for the connections it makes (the server side turns it off).
      // A request body that reaches kubegate in pieces then waits for the API server's delayed ACK before
      // its last piece (a chunked body's terminator) goes out: ~40 ms each (bench/micro-upstream-nodelay.ts).
      req.setNoDelay(true);
      let response: IncomingMessage | undefined;
      let timedOut = false;
      const abort = () => {
        if (response?.complete) return;
        // Released on purpose: whatever the torn connection reports afterwards is nobody's error.
        response?.on('error', ignore);
        response?.destroy();
        req.on('error', ignore);
        req.destroy();
      };
      const detach = () => r.signal.removeEventListener('abort', abort);
      r.signal.addEventListener('abort', abort, { once: true });
      if (r.idleMs > 0) {
        req.setTimeout(r.idleMs, () => {
          timedOut = true;
          const err = new KubegateError('UPSTREAM_TIMEOUT', `the API server sent nothing for ${r.idleMs / 1000} s`);
          if (response) response.destroy(err);
          else req.destroy(err);
        });
      }
      req.once('finish', r.onSent);
      req.once('response', (res: IncomingMessage) => {
        response = res;
        res.once('end', detach);
        res.once('close', detach);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, httpVersion: '1.1' });
      });
      req.once('error', (err: NodeJS.ErrnoException) => {
        if (response) return; // after the head the body stream carries the failure
        detach();
        if (!timedOut && !retried && !r.signal.aborted && req.reusedSocket && STALE_CONNECTION.has(err.code ?? '') && r.body === null && IDEMPOTENT_METHODS.has(r.method)) {
          resolve(send(r, true));
          return;
        }
        reject(failure(err, timedOut));
      });
      if (r.body === null) req.end();
      else {
        // Ended by hand: a body that falls short of its Content-Length makes end() throw (strictContentLength).
        r.body.pipe(req, { end: false });
        r.body.once('end', () => {
          try {
            req.end();
          } catch (err) {
            req.destroy(err as Error);
          }
        });
        // A client that stops sending its body mid-way (its stream errors) fails the upstream request too.
        r.body.once('error', () => req.destroy());
      }
    });

  return {
    request: (r) => send(r, false),
    close() {},
    destroy() {
      upstream.agent().destroy();
    },
  };
}

const ignore = () => {};

function failure(err: NodeJS.ErrnoException, timedOut: boolean): KubegateError {
  if (err instanceof KubegateError) return err;
  const code = timedOut ? 'UPSTREAM_TIMEOUT' : UNREACHABLE.has(err.code ?? '') ? 'UPSTREAM_UNREACHABLE' : 'UPSTREAM_FAILED';
  return new KubegateError(code, `forwarding to the API server failed: ${err.code ?? err.message}`, { cause: err, details: { errno: err.code ?? 'unknown' } });
}
