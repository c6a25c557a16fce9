/** Grant events as audit records: elevation builds them in the audit/ shape (audit/ knows nothing of grants). */
import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../audit/event.js';
import { ERROR_CODES, type ErrorCode } from '../errors/errors.js';
import type { GrantEvent } from './grants.js';
import { ELEVATION_API_GROUP, ELEVATION_API_VERSION, ELEVATION_PLURAL } from './types.js';

/**
 * The audit record of a grant event (requested, approved, refused, activated, revoked, expired): one
 * Event of its own (its own audit ID; `kubegate.io/request-audit-id` links the API request that caused
 * it), with the grant's id, requester, groups, reason, duration and approver as annotations.
 */
export function grantAuditEvent(event: GrantEvent): AuditEvent {
  const e = event.elevation;
  const code = event.refusal ? (ERROR_CODES[event.refusal.code as ErrorCode]?.status ?? 403) : 200;
  const annotations: Record<string, string> = { 'kubegate.io/elevation-event': event.kind, 'kubegate.io/forwarded': 'false' };
  if (e) {
    annotations['kubegate.io/elevation-id'] = e.id;
    annotations['kubegate.io/elevation-requester'] = e.requester;
    annotations['kubegate.io/elevation-groups'] = e.groups.join(',');
    annotations['kubegate.io/elevation-reason'] = e.reason;
    annotations['kubegate.io/elevation-duration-seconds'] = String(e.durationSeconds);
    annotations['kubegate.io/elevation-rule'] = e.rule;
    annotations['kubegate.io/elevation-phase'] = e.phase;
    if (e.approvedBy) annotations['kubegate.io/elevation-approver'] = e.approvedBy;
    if (e.expiresAt) annotations['kubegate.io/elevation-expires-at'] = e.expiresAt;
    if (e.revokedBy) annotations['kubegate.io/elevation-revoked-by'] = e.revokedBy;
  } else if (event.request) {
    annotations['kubegate.io/elevation-groups'] = event.request.groups.join(',');
    annotations['kubegate.io/elevation-reason'] = event.request.reason;
    annotations['kubegate.io/elevation-duration-seconds'] = String(event.request.durationSeconds);
  }
  if (event.refusal) {
    annotations['kubegate.io/error'] = event.refusal.code;
    annotations['kubegate.io/elevation-refusal'] = event.refusal.message;
  }
  if (event.requestAuditId) annotations['kubegate.io/request-audit-id'] = event.requestAuditId;
  const at = event.at.toISOString();
  const record: AuditEvent = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: randomUUID(),
    stage: 'ResponseComplete',
    requestURI: e ? `/kubegate/v1/elevations/${e.id}` : '/kubegate/v1/elevations',
    verb: event.kind,
    user: { username: event.actor },
    sourceIPs: [],
    objectRef: { apiGroup: ELEVATION_API_GROUP, apiVersion: ELEVATION_API_VERSION, resource: ELEVATION_PLURAL, ...(e && { name: e.id }) },
    responseStatus: { metadata: {}, code, ...(event.refusal && { status: 'Failure' as const, message: event.refusal.message }) },
    requestReceivedTimestamp: at,
    stageTimestamp: at,
    annotations,
  };
  return record;
}
