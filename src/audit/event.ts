/**
 * Audit records shaped like Kubernetes `audit.k8s.io/v1` Events, so the tools that read kube-apiserver
 * audit logs read kubegate's. Never carries a token; bodies only at the Request/RequestResponse levels,
 * parsed and with every secret value taken out (audit/redact.ts).
 *
 * The record says what really happened (see request/exchange.ts): `responseStatus.code` is the status
 * kubegate sent, or 499 when the client left before any status was sent (kube-apiserver would record a
 * faked 200 "Connection closed early"); `kubegate.io/outcome` and `kubegate.io/forwarded` say how the
 * request ended and whether the API server ever saw it.
 */
import type { UserInfo } from '../identity/user.js';
import type { AuditDecision, CapturedBody, Level, Stage } from '../request/audit-types.js';
import type { Outcome, RequestContext } from '../request/context.js';
import type { PolicyAttributes } from './policy.js';
import { recordedObject } from './redact.js';

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
  level: Level;
  auditID: string;
  stage: Stage;
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
  requestObject?: unknown;
  responseObject?: unknown;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  annotations?: Record<string, string>;
}

/** Any record a sink writes: a RequestReceived record has no responseStatus yet. */
export type AuditRecord = Omit<AuditEvent, 'responseStatus'> & { responseStatus?: AuditEvent['responseStatus'] };

// Built once per request on every path: object spreads are avoided here (a spread into a literal with
// more properties cost about 1.2 µs each on Node 20, bench/micro-audit.ts), and so are repeated
// Date formatting (isoTime) and copies of a cached identity (auditUser).

export function auditEvent(ctx: RequestContext, outcome: Outcome, now: Date = new Date()): AuditEvent {
  const code = outcome.statusSent ?? (outcome.kind === 'client-gone' ? CLIENT_CLOSED_REQUEST : 500);
  // An internal failure (a bug, not a refusal) is kube-apiserver's Panic stage.
  const event = baseEvent(ctx, ctx.errorCode === 'INTERNAL' ? 'Panic' : 'ResponseComplete', outcome.audit, now) as AuditEvent;
  event.responseStatus = { metadata: {}, code };
  if (ctx.impersonated) event.impersonatedUser = auditUser(ctx.impersonated);
  const annotations = copyAnnotations(outcome.annotations);
  annotations['kubegate.io/outcome'] = outcome.kind;
  annotations['kubegate.io/forwarded'] = outcome.forwarded ? 'true' : 'false';
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
  const level = event.level;
  if (outcome.requestBody && (level === 'Request' || level === 'RequestResponse')) {
    attachBody(event, 'requestObject', outcome.requestBody, outcome.audit, annotations, 'kubegate.io/request-object');
  }
  if (outcome.responseBody && level === 'RequestResponse') {
    attachBody(event, 'responseObject', outcome.responseBody, outcome.audit, annotations, 'kubegate.io/response-object');
  }
  event.annotations = annotations;
  return event;
}

/** A record of an earlier stage: RequestReceived (nothing answered yet) or ResponseStarted (the status so far). */
export function stageEvent(ctx: RequestContext, stage: 'RequestReceived' | 'ResponseStarted', detail: { decision?: AuditDecision; code?: number; annotations?: Readonly<Record<string, string>> }, now: Date = new Date()): AuditRecord {
  const event = baseEvent(ctx, stage, detail.decision, now);
  if (stage === 'ResponseStarted') {
    if (ctx.impersonated) event.impersonatedUser = auditUser(ctx.impersonated);
    event.responseStatus = { metadata: {}, code: detail.code ?? 200 };
  }
  if (detail.annotations && Object.keys(detail.annotations).length > 0) event.annotations = copyAnnotations(detail.annotations);
  return event;
}

/** A copy of a request's annotations (own string properties, in order), without an object spread. */
function copyAnnotations(from: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(from)) out[key] = from[key]!;
  return out;
}

let isoSecond = NaN;
let isoPrefix = '';
/**
 * `date.toISOString()`, formatted once per second: `YYYY-MM-DDTHH:mm:ss.` is kept and only the
 * milliseconds are appended (two timestamps per record; toISOString costs about 0.4 µs on Node 20).
 */
export function isoTime(date: Date): string {
  const ms = date.getTime();
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    const full = date.toISOString(); // throws for an invalid date, as before
    isoPrefix = full.slice(0, full.length - 4);
    isoSecond = second;
  }
  const frac = ms - second * 1000;
  return isoPrefix + (frac < 10 ? '00' : frac < 100 ? '0' : '') + frac + 'Z';
}

function baseEvent(ctx: RequestContext, stage: Stage, decision: AuditDecision | undefined, now: Date): AuditRecord {
  const info = ctx.info;
  const event: AuditRecord = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: decision?.level ?? 'Metadata',
    auditID: ctx.auditId,
    stage,
    requestURI: ctx.url,
    verb: info.verb,
    user: ctx.user ? auditUser(ctx.user) : {},
    sourceIPs: [ctx.clientAddress],
    requestReceivedTimestamp: isoTime(ctx.receivedAt),
    stageTimestamp: isoTime(now),
  };
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
  return event;
}

function attachBody(event: AuditRecord, field: 'requestObject' | 'responseObject', body: CapturedBody, decision: AuditDecision | undefined, annotations: Record<string, string>, note: string): void {
  if (body.truncated) return void (annotations[note] = 'not recorded: larger than the capture limit (audit.maxBodyBytes)');
  if (!body.complete || body.bytes === undefined) return void (annotations[note] = 'not recorded: the body did not arrive in full');
  const ref = event.objectRef;
  const recorded = recordedObject(body.bytes, body.contentType, body.contentEncoding, ref && { resource: ref.resource, subresource: ref.subresource, apiGroup: ref.apiGroup ?? '' }, decision?.omitManagedFields ?? false);
  if (recorded.note) annotations[note] = recorded.note;
  if (recorded.object !== undefined) event[field] = recorded.object;
}

/** What the audit policy matches on, read from a record (so every record, elevation events too, is judged alike). */
export function policyAttributes(event: AuditRecord): PolicyAttributes {
  const ref = event.objectRef;
  const q = event.requestURI.indexOf('?');
  return {
    username: event.user.username,
    groups: event.user.groups ?? [],
    verb: event.verb,
    resourceRequest: ref !== undefined,
    path: q < 0 ? event.requestURI : event.requestURI.slice(0, q),
    apiGroup: ref?.apiGroup ?? '',
    resource: ref?.resource,
    subresource: ref?.subresource,
    namespace: ref?.namespace,
    name: ref?.name,
  };
}

/**
 * The same attributes {@link policyAttributes} reads from any stage record of this request, read from the
 * context directly (no record built): what the trail judges a request by before writing anything.
 */
export function contextAttributes(ctx: RequestContext): PolicyAttributes {
  const info = ctx.info;
  const q = ctx.url.indexOf('?');
  const user = ctx.user;
  const resourceRequest = info.isResourceRequest;
  return {
    username: user?.username,
    groups: user?.groups ?? [],
    verb: info.verb,
    resourceRequest,
    path: q < 0 ? ctx.url : ctx.url.slice(0, q),
    apiGroup: (resourceRequest && info.apiGroup) || '',
    resource: (resourceRequest && info.resource) || undefined,
    subresource: (resourceRequest && info.subresource) || undefined,
    namespace: (resourceRequest && info.namespace) || undefined,
    name: (resourceRequest && info.name) || undefined,
  };
}

/** AuditUsers of frozen identities (a cached token's), made once each: they are frozen too, so records can share them. */
const frozenAuditUsers = new WeakMap<UserInfo, AuditUser>();

function auditUser(u: UserInfo): AuditUser {
  let out = frozenAuditUsers.get(u);
  if (out !== undefined) return out;
  out = copyUser(u);
  // Only an identity frozen through and through (identity/user.ts freezeUser) can never change under its copy.
  if (Object.isFrozen(u) && Object.isFrozen(u.groups) && Object.isFrozen(u.extra) && Object.values(u.extra).every(Object.isFrozen)) {
    frozenAuditUsers.set(u, deepFreeze(out));
  }
  return out;
}

function copyUser(u: UserInfo): AuditUser {
  const out: AuditUser = { username: u.username };
  if (u.uid !== undefined) out.uid = u.uid;
  if (u.groups.length > 0) out.groups = [...u.groups];
  if (Object.keys(u.extra).length > 0) out.extra = Object.fromEntries(Object.entries(u.extra).map(([k, v]) => [k, [...v]]));
  return out;
}

function deepFreeze(u: AuditUser): AuditUser {
  if (u.groups) Object.freeze(u.groups);
  if (u.extra) {
    for (const v of Object.values(u.extra)) Object.freeze(v);
    Object.freeze(u.extra);
  }
  return Object.freeze(u);
}
