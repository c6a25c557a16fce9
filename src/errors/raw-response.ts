/**
 * A Kubernetes Status answer written straight to a socket Node no longer parses HTTP on (an upgrade
 * request kubegate refuses, or a request Node could not parse), then the connection is closed.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { statusBody, type KubegateError } from './errors.js';

export function writeStatus(socket: Duplex, err: KubegateError, auditId?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(statusBody(err));
  const lines = [
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? err.reason}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  if (auditId) lines.push(`Audit-Id: ${auditId}`);
  if (err.status === 401) lines.push('WWW-Authenticate: Bearer realm="kubegate"');
  // Such a socket has no timeouts any more: destroy it once the answer is flushed, or a client that never
  // closes its side would hold the descriptor forever.
  socket.end(`${lines.join("\r\n")}\r\n\r\n${body}`, () => socket.destroy());
}
