/** The one exit for errors: a Kubernetes `Status` JSON body kubectl can decode, with the audit ID. */
import { isGone, resetResponse, writeHead, type ClientResponse } from '../net/wire.js';
import type { KubegateError } from '../errors/errors.js';
import { statusResponse } from '../errors/raw-response.js';

export function sendError(res: ClientResponse, err: KubegateError, auditId: string): void {
  if (res.headersSent) {
    resetResponse(res);
    return;
  }
  if (isGone(res)) return;
  const { body, headers } = statusResponse(err, auditId);
  writeHead(res, err.status, headers);
  res.end(body);
}

export function sendJson(res: ClientResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  if (isGone(res)) return;
  writeHead(res, status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
