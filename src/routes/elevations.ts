/**
 * kubegate's own HTTP API for break-glass elevation, answered on the proxy listener after
 * authentication and never forwarded to the API server:
 *
 *   POST /kubegate/v1/elevations               {groups, durationSeconds, reason} → 201 Elevation
 *   GET  /kubegate/v1/elevations               → 200 {items: Elevation[]} (mine; all of my rules' for approvers)
 *   GET  /kubegate/v1/elevations/{id}          → 200 Elevation
 *   POST /kubegate/v1/elevations/{id}/approve  → 200 Elevation
 *   POST /kubegate/v1/elevations/{id}/revoke   → 200 Elevation
 *
 * Every refusal leaves as a coded KubegateError, which the pipeline turns into a Kubernetes Status.
 */
import type { ClientRequest as IncomingMessage, ClientResponse as ServerResponse } from '../net/wire.js';
import type { GrantService } from '../elevation/grants.js';
import { KubegateError } from '../errors/errors.js';
import type { SessionFacts, UserInfo } from '../identity/user.js';

export const OWN_API_PREFIX = '/kubegate/';
const COLLECTION = '/kubegate/v1/elevations';
const MAX_BODY_BYTES = 16 * 1024;

/** Whether a request target is kubegate's own API (answered here, never forwarded). */
export function isOwnApi(url: string): boolean {
  return url.startsWith(OWN_API_PREFIX) || url === '/kubegate';
}

export interface OwnApiRequest {
  person: UserInfo;
  session: SessionFacts;
  auditId: string;
  method: string;
  url: string;
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * Answer one request to kubegate's own API.
 * @param grants undefined when elevation is not configured (every path answers 404 ELEVATION_DISABLED).
 * @throws KubegateError for every refusal.
 */
export async function answerOwnApi(grants: GrantService | undefined, r: OwnApiRequest): Promise<void> {
  const path = r.url.split('?')[0]!;
  if (path !== COLLECTION && !path.startsWith(`${COLLECTION}/`)) throw new KubegateError('ELEVATION_NOT_FOUND', `no kubegate API at ${path}`, { clientMessage: `kubegate has no API at ${path}` });
  if (grants === undefined) throw new KubegateError('ELEVATION_DISABLED', 'elevation API called but elevation is not configured');
  const [id, action, ...rest] = path === COLLECTION ? [] : path.slice(COLLECTION.length + 1).split('/');
  if (rest.length > 0 || (id !== undefined && !/^[a-z0-9-]{1,63}$/.test(id))) throw new KubegateError('ELEVATION_NOT_FOUND', `no kubegate API at ${path}`, { clientMessage: `kubegate has no API at ${path}` });

  if (id === undefined) {
    if (r.method === 'GET') return sendJson(r.res, 200, { items: grants.list(r.person) });
    if (r.method === 'POST') return sendJson(r.res, 201, await grants.request(r.person, r.session, await readJson(r.req), r.auditId));
  } else if (action === undefined) {
    if (r.method === 'GET') return sendJson(r.res, 200, grants.get(r.person, id));
  } else if (r.method === 'POST' && action === 'approve') {
    return sendJson(r.res, 200, await grants.approve(r.person, id, r.auditId));
  } else if (r.method === 'POST' && action === 'revoke') {
    return sendJson(r.res, 200, await grants.revoke(r.person, id, r.auditId));
  } else {
    throw new KubegateError('ELEVATION_NOT_FOUND', `no kubegate API at ${path}`, { clientMessage: `kubegate has no API at ${r.method} ${path}` });
  }
  throw new KubegateError('REQUEST_UNSUPPORTED', `${r.method} not allowed on ${path}`, { clientMessage: `${r.method} is not supported on ${path}` });
}

/** The JSON body, bounded; a body that is too large or not JSON is a 400. Shared by kubegate's own API routes. */
export function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        reject(new KubegateError('REQUEST_BODY_INVALID', 'own API request body too large', { clientMessage: `the body is larger than ${MAX_BODY_BYTES} bytes` }));
      } else chunks.push(chunk);
    });
    req.once('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        reject(new KubegateError('REQUEST_BODY_INVALID', 'own API request body is not JSON', { clientMessage: 'the body must be JSON' }));
      }
    });
    req.once('error', reject);
    req.once('close', () => reject(new KubegateError('REQUEST_BODY_INVALID', 'client closed while sending the body')));
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
