/**
 * The HTTP answer for a KubegateError: a Kubernetes Status body with its headers, sent on a
 * ServerResponse (server/respond.ts) or written straight to a socket Node no longer parses HTTP on
 * (an upgrade request kubegate refuses, or a request Node could not parse).
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { statusBody, type KubegateError } from './errors.js';

export function statusResponse(err: KubegateError, auditId: string | undefined): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(statusBody(err));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
  };
  if (auditId) headers['audit-id'] = auditId;
  if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="kubegate"';
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  return { body, headers };
}

/** Write the answer to a raw socket and close the connection. */
export function writeStatus(socket: Duplex, err: KubegateError, auditId?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { body, headers } = statusResponse(err, auditId);
  const lines = [`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? err.reason}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'connection: close'];
  // Such a socket has no timeouts any more: destroy it once the answer is flushed, or a client that never
  // closes its side would hold the descriptor forever.
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy());
}
