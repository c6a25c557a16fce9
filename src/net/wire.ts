/**
 * The client side of a request, whatever the protocol it arrived on: Node's HTTP/1.1 `IncomingMessage`/
 * `ServerResponse` or its HTTP/2 compatibility `Http2ServerRequest`/`Http2ServerResponse`. The pipeline
 * reads and writes only what both offer, through the types below; the few places where the two differ
 * are answered here and nowhere else:
 * - an HTTP/2 response whose stream the client reset reports `writableFinished` (it is the stream's), so
 *   "did the client leave before the response was complete" is {@link clientLeftEarly}, not that flag;
 * - `destroyed` exists only on the HTTP/1.1 response ({@link isGone});
 * - ending a response abnormally is a destroyed socket on HTTP/1.1 and an RST_STREAM on HTTP/2
 *   ({@link resetResponse});
 * - whether a request has a body ({@link hasBody}).
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Writable } from 'node:stream';

/** A request as the pipeline sees it. */
export type ClientRequest = IncomingMessage | Http2ServerRequest;
/** A response as the pipeline writes it. */
export type ClientResponse = ServerResponse | Http2ServerResponse;

/** Headers that describe one connection (RFC 9110 §7.6.1) and that HTTP/2 forbids (RFC 9113 §8.2.2). */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

export function isHttp2Response(res: ClientResponse): res is Http2ServerResponse {
  return 'stream' in res;
}

export function isHttp2Request(req: ClientRequest): req is Http2ServerRequest {
  return 'stream' in req;
}

/**
 * Whether the connection closed before the whole response was handed over: the client went away (or a
 * stage ended the response itself, which the exchange knows from `endedBy`).
 */
export function clientLeftEarly(res: ClientResponse): boolean {
  if (isHttp2Response(res)) return !res.writableEnded || (res.stream.rstCode ?? 0) !== constants.NGHTTP2_NO_ERROR;
  return !res.writableFinished;
}

/** The client connection (HTTP/1.1) or stream (HTTP/2) is gone: nothing more can be written. */
export function isGone(res: ClientResponse): boolean {
  return isHttp2Response(res) ? res.stream.destroyed : res.destroyed;
}

/**
 * End a response abnormally, so the client sees a broken response, never a complete one: the connection
 * is closed on HTTP/1.1 (the only signal it has), the stream alone is reset on HTTP/2 (the client's other
 * requests on the connection carry on).
 */
export function resetResponse(res: ClientResponse): void {
  if (isHttp2Response(res)) {
    if (!res.stream.destroyed) res.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  } else res.destroy();
}

/** Whether the request carries a body to forward. */
export function hasBody(req: ClientRequest): boolean {
  const length = req.headers['content-length'];
  if (isHttp2Request(req)) return !req.stream.endAfterHeaders && length !== '0';
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The response as a destination for `pipe` (both classes implement what pipe uses). */
export function asWritable(res: ClientResponse): Writable {
  return res as unknown as Writable;
}

/** Write the head with the given headers (both classes; names as given). */
export function writeHead(res: ClientResponse, status: number, headers: OutgoingHttpHeaders): void {
  (res as ServerResponse).writeHead(status, headers);
}

/**
 * Send the head now, before the first body byte (a watch or `logs -f` shows its client the head at once,
 * not at the first event). The HTTP/2 response sends it from writeHead already.
 */
export function flushHead(res: ClientResponse): void {
  if (!isHttp2Response(res)) res.flushHeaders();
}


/** Where to open a TCP/TLS connection for an https URL: the host without IPv6 brackets, the port (443 by default). */
export function connectTarget(url: URL): { host: string; port: number } {
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 443 : Number(url.port) };
}
