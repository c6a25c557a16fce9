/**
 * What the forwarding core asks of a connection pool to the API server, whatever the protocol: one
 * request in, one response head and a streamed body out. HTTP/1.1 (h1-client.ts) and HTTP/2
 * (h2-pool.ts) implement it; forward.ts uses it and never sees sockets or sessions.
 *
 * Contract:
 * - `request()` resolves with the response head once the API server sent it; the body streams from
 *   `body` with backpressure (a paused consumer stops the upstream flow; nothing is buffered whole).
 * - It rejects with a coded KubegateError when no head arrived: UPSTREAM_UNREACHABLE (no connection
 *   could be made), UPSTREAM_TIMEOUT (`idleMs` passed without a byte), UPSTREAM_RETRY (the API server
 *   provably did not process the request, e.g. a GOAWAY above its stream or REFUSED_STREAM, and it could
 *   not be retried), UPSTREAM_FAILED (anything else).
 * - A request is sent a second time only when it provably never reached the API server's handler, it
 *   is idempotent (GET, HEAD, OPTIONS) and it has no body; at most once.
 * - Aborting `signal` releases the upstream request at once (RST_STREAM on HTTP/2, the socket destroyed
 *   on HTTP/1.1), before or after the head; the promise then rejects (if still pending) and `body` is
 *   destroyed.
 * - After the head, a failure or an idle timeout destroys `body` with an error whose `code` is
 *   UPSTREAM_TIMEOUT or UPSTREAM_FAILED.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { ReleaseSignal } from '../net/release.js';

export interface UpstreamRequest {
  method: string;
  /** Path and query as sent to the API server (the kubeconfig server's path prefix already applied). */
  path: string;
  /**
   * The sanitised request headers: lower-case names, no pseudo-headers, no `host`, and none of the
   * connection-specific headers (connection, keep-alive, proxy-connection, transfer-encoding, upgrade).
   * Owned by the request: the HTTP/2 pool adds ':method' and ':path' to this object and hands it to
   * `session.request()` as is, so pass a fresh object per request (never a shared, pre-built one).
   */
  headers: OutgoingHttpHeaders;
  /** The request body, piped with backpressure; null when the request has none. */
  body: Readable | null;
  /** Aborted when the client has gone (or a limit ended the request): release the upstream request. An AbortSignal fits. */
  signal: ReleaseSignal;
  /** Milliseconds without a byte from the API server before the request fails (0: no limit). */
  idleMs: number;
  /** Called once the request, body included, was handed to the API server's connection. */
  onSent(): void;
}

export interface UpstreamResponse {
  status: number;
  /** Response headers as the API server sent them (no pseudo-headers). */
  headers: IncomingHttpHeaders;
  body: Readable;
  /** The protocol the API server answered on. */
  httpVersion: '1.1' | '2.0';
}

export interface UpstreamClient {
  request(req: UpstreamRequest): Promise<UpstreamResponse>;
  /** Take no new requests; idle connections close, in-flight requests run to their end. */
  close(): void;
  /** Close every connection now (in-flight requests fail). */
  destroy(): void;
}

/** Methods that may be sent again when the API server provably never processed them (and they have no body). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
