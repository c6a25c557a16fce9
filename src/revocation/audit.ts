/** Revocation events as audit records: revocation/ builds them in the audit/ shape (audit/ knows nothing of revocations). */
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../audit/event.js';
import { ERROR_CODES, type ErrorCode } from '../errors/errors.js';
import { REVOCATION_API_GROUP, REVOCATION_API_VERSION, REVOCATION_PLURAL, type Revocation } from './types.js';

export type RevocationEventKind = 'revoked' | 'deleted' | 'refused' | 'sessions-ended';

/** Something that happened to a revocation: audited and logged. */
export interface RevocationEvent {
  kind: RevocationEventKind;
  /** The username that caused it. */
  actor: string;
  at: Date;
  revocation?: Revocation;
  /** For `revoked`: the elevation grants ended with it. */
  endedElevations?: string[];
  /** For `sessions-ended`: how many open requests (watches, sessions) this replica closed. */
  endedRequests?: number;
  refusal?: { code: string; message: string };
  /** The audit ID of the API request that caused it, if any. */
  requestAuditId?: string;
}

/**
 * The audit record of a revocation event: one Event of its own (its own audit ID;
 * `kubegate.io/request-audit-id` links the API request that caused it), the revocation as annotations.
 */
export function revocationAuditEvent(event: RevocationEvent): AuditEvent {
  const r = event.revocation;
  const code = event.refusal ? (ERROR_CODES[event.refusal.code as ErrorCode]?.status ?? 403) : 200;
  const annotations: Record<string, string> = { 'kubegate.io/revocation-event': event.kind, 'kubegate.io/forwarded': 'false' };
  if (r) {
    annotations['kubegate.io/revocation-id'] = r.id;
    if (r.user !== undefined) annotations['kubegate.io/revocation-user'] = r.user;
    if (r.group !== undefined) annotations['kubegate.io/revocation-group'] = r.group;
    if (r.issuedBefore !== undefined) annotations['kubegate.io/revocation-issued-before'] = r.issuedBefore;
    annotations['kubegate.io/revocation-reason'] = r.reason;
    annotations['kubegate.io/revocation-created-by'] = r.createdBy;
  }
  if (event.endedElevations?.length) annotations['kubegate.io/revocation-ended-elevations'] = event.endedElevations.join(',');
  if (event.endedRequests !== undefined) annotations['kubegate.io/revocation-ended-requests'] = String(event.endedRequests);
  if (event.refusal) {
    annotations['kubegate.io/error'] = event.refusal.code;
    annotations['kubegate.io/revocation-refusal'] = event.refusal.message;
  }
  if (event.requestAuditId) annotations['kubegate.io/request-audit-id'] = event.requestAuditId;
  const at = event.at.toISOString();
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: randomUUID(),
    stage: 'ResponseComplete',
    requestURI: r ? `/kubegate/v1/revocations/${r.id}` : '/kubegate/v1/revocations',
    verb: event.kind,
    user: { username: event.actor },
    sourceIPs: [],
    objectRef: { apiGroup: REVOCATION_API_GROUP, apiVersion: REVOCATION_API_VERSION, resource: REVOCATION_PLURAL, ...(r && { name: r.id }) },
    responseStatus: { metadata: {}, code, ...(event.refusal && { status: 'Failure' as const, message: event.refusal.message }) },
    requestReceivedTimestamp: at,
    stageTimestamp: at,
    annotations,
  };
}
