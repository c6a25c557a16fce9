/**
 * kubegate's own HTTP API for revocations, answered on the proxy listener after authentication (and after
 * the revocation check: a revoked administrator cannot use it) and never forwarded:
 *
 *   POST   /kubegate/v1/revocations         {user | group, issuedBefore?, reason} → 201 {revocation, endedElevations}
 *   GET    /kubegate/v1/revocations         → 200 {items: Revocation[]}
 *   GET    /kubegate/v1/revocations/{id}    → 200 Revocation
 *   DELETE /kubegate/v1/revocations/{id}    → 200 Revocation (the one deleted)
 *
 * Only `revocation.admins` may call it (403 otherwise). Every refusal leaves as a coded KubegateError,
 * which the pipeline turns into a Kubernetes Status.
 */
import { KubegateError } from '../errors/errors.js';
import type { RevocationService } from '../revocation/service.js';
import { readJson, sendJson, type OwnApiRequest } from './elevations.js';

const COLLECTION = '/kubegate/v1/revocations';

/** Whether a request target is the revocation API (the rest of kubegate's own API is elevations.ts's). */
export function isRevocationApi(url: string): boolean {
  const path = url.split('?')[0]!;
  return path === COLLECTION || path.startsWith(`${COLLECTION}/`);
}

/**
 * Answer one request to the revocation API.
 * @param revocations undefined when revocation is not configured (every path answers 404 REVOCATION_DISABLED).
 * @throws KubegateError for every refusal.
 */
export async function answerRevocationApi(revocations: RevocationService | undefined, r: OwnApiRequest): Promise<void> {
  const path = r.url.split('?')[0]!;
  if (revocations === undefined) throw new KubegateError('REVOCATION_DISABLED', 'revocation API called but revocation is not configured');
  const rest = path === COLLECTION ? [] : path.slice(COLLECTION.length + 1).split('/');
  const [id] = rest;
  if (rest.length > 1 || (id !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(id))) {
    throw new KubegateError('REVOCATION_NOT_FOUND', `no kubegate API at ${path}`, { clientMessage: `kubegate has no API at ${path}` });
  }
  if (id === undefined) {
    if (r.method === 'GET') return sendJson(r.res, 200, { items: revocations.list(r.person) });
    if (r.method === 'POST') return sendJson(r.res, 201, await revocations.create(r.person, r.session, await readJson(r.req), r.auditId));
  } else {
    if (r.method === 'GET') return sendJson(r.res, 200, revocations.get(r.person, id));
    if (r.method === 'DELETE') return sendJson(r.res, 200, await revocations.delete(r.person, id, r.auditId));
  }
  throw new KubegateError('REQUEST_UNSUPPORTED', `${r.method} not allowed on ${path}`, { clientMessage: `${r.method} is not supported on ${path}` });
}
