/** The one exit for errors: a Kubernetes `Status` JSON body kubectl can decode, with the audit ID. */
import type { ServerResponse } from 'node:http';
import type { KubegateError } from '../errors/errors.js';
import { statusResponse } from '../errors/raw-response.js';

export function sendError(res: ServerResponse, err: KubegateError, auditId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { body, headers } = statusResponse(err, auditId);
  res.writeHead(err.status, headers);
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
