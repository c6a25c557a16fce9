/**
 * Audit records shaped like Kubernetes `audit.k8s.io/v1` Events (level Metadata), so the tools that read
 * kube-apiserver audit logs read kubegate's. Never carries a token or a request/response body.
 *
 * The record says what really happened (see request/exchange.ts): `responseStatus.code` is the status
 * kubegate sent, or 499 when the client left before any status was sent (kube-apiserver would record a
 * faked 200 "Connection closed early"); `kubegate.io/outcome` and `kubegate.io/forwarded` say how the
 * request ended and whether the API server ever saw it.
 */
import type { UserInfo } from '../identity/user.js';
import type { Outcome, RequestContext } from '../request/context.js';

/** The code recorded for a request whose client left before any status was sent (nginx's convention). */
export const CLIENT_CLOSED_REQUEST = 499;

export interface AuditUser {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface AuditEvent {
  kind: 'Event';
  apiVersion: 'audit.k8s.io/v1';
  level: 'Metadata';
  auditID: string;
  stage: 'ResponseComplete' | 'Panic';
  requestURI: string;
  verb: string;
  user: AuditUser;
  impersonatedUser?: AuditUser;
  sourceIPs: string[];
  userAgent?: string;
  objectRef?: {
    resource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    apiVersion?: string;
    subresource?: string;
  };
  responseStatus: { metadata: Record<string, never>; code: number; status?: 'Failure'; reason?: string; message?: string };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  annotations?: Record<string, string>;
}

export function auditEvent(ctx: RequestContext, outcome: Outcome, now: Date = new Date()): AuditEvent {
  const info = ctx.info;
  const code = outcome.statusSent ?? (outcome.kind === 'client-gone' ? CLIENT_CLOSED_REQUEST : 500);
  const event: AuditEvent = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: ctx.auditId,
    stage: 'ResponseComplete',
    requestURI: ctx.url,
    verb: info.verb,
    user: ctx.user ? auditUser(ctx.user) : {},
    sourceIPs: [ctx.clientAddress],
    responseStatus: { metadata: {}, code },
    requestReceivedTimestamp: ctx.receivedAt.toISOString(),
    stageTimestamp: now.toISOString(),
  };
  if (ctx.impersonated) event.impersonatedUser = auditUser(ctx.impersonated);
  if (ctx.userAgent) event.userAgent = ctx.userAgent;
  if (info.isResourceRequest) {
    const ref: NonNullable<AuditEvent['objectRef']> = {};
    if (info.resource) ref.resource = info.resource;
    if (info.namespace) ref.namespace = info.namespace;
    if (info.name) ref.name = info.name;
    if (info.apiGroup) ref.apiGroup = info.apiGroup;
    if (info.apiVersion) ref.apiVersion = info.apiVersion;
    if (info.subresource) ref.subresource = info.subresource;
    event.objectRef = ref;
  }
  const annotations: Record<string, string> = {
    ...outcome.annotations,
    'kubegate.io/outcome': outcome.kind,
    'kubegate.io/forwarded': String(outcome.forwarded),
  };
  if (ctx.errorCode) annotations['kubegate.io/error'] = ctx.errorCode;
  if (ctx.errorCode || code >= 400) event.responseStatus.status = 'Failure';
  if (outcome.statusSent === undefined) {
    event.responseStatus.message = outcome.kind === 'client-gone' ? 'the client closed the connection before kubegate answered' : 'kubegate wrote no status';
  }
  if (ctx.strippedImpersonation.length > 0) {
    annotations['kubegate.io/stripped-impersonation-headers'] = [...new Set(ctx.strippedImpersonation)].join(',');
  }
  if (ctx.elevations !== undefined && ctx.elevations.length > 0) {
    annotations['kubegate.io/elevation-id'] = ctx.elevations.map((g) => g.id).join(',');
    annotations['kubegate.io/elevation-reason'] = ctx.elevations.map((g) => g.reason).join(' | ');
  }
  if (ctx.strippedRequestHeaders.length > 0) {
    annotations['kubegate.io/stripped-requestheader-headers'] = [...new Set(ctx.strippedRequestHeaders)].join(',');
  }
  event.annotations = annotations;
  return event;
}

function auditUser(u: UserInfo): AuditUser {
  const out: AuditUser = { username: u.username };
  if (u.uid !== undefined) out.uid = u.uid;
  if (u.groups.length > 0) out.groups = [...u.groups];
  if (Object.keys(u.extra).length > 0) out.extra = Object.fromEntries(Object.entries(u.extra).map(([k, v]) => [k, [...v]]));
  return out;
}
