/** The one exit for errors: a Kubernetes `Status` JSON body kubectl can decode, with the audit ID. */
import type { ServerResponse } from 'node:http';
import { statusBody, type KubegateError } from '../errors/errors.js';

export function sendError(res: ServerResponse, err: KubegateError, auditId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(statusBody(err));
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'audit-id': auditId,
    'cache-control': 'no-store',
  };
  if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="kubegate"';
  res.writeHead(err.status, headers);
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
