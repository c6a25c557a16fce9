/**
 * The request path, top to bottom. Each stage is a small function over the per-request context and
 * leaves by throwing a coded KubegateError; the catch at the bottom is the single exit that turns any
 * error into a Kubernetes Status response and an audit record.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'winston';
import type { AuditSink } from '../audit/sink.js';
import { auditEvent } from '../audit/event.js';
import type { Authenticator } from '../authn/authenticator.js';
import { asKubegateError, KubegateError } from '../errors/errors.js';
import { outgoingHeaders } from '../impersonation/headers.js';
import type { Forwarder } from '../proxy/forward.js';
import type { Upstream } from '../upstream/upstream.js';
import type { RequestContext } from './context.js';
import { sendError, sendJson } from './respond.js';

export interface PipelineDeps {
  authenticator: Authenticator;
  upstream: Upstream;
  forwarder: Forwarder;
  audit: AuditSink;
  log: Logger;
}

export function createRequestHandler(deps: PipelineDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(deps, req, res);
  };
}

async function handle(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // 1. Scope first: every later stage, the response and the audit record share its audit ID.
  const ctx = newContext(req);
  res.setHeader('audit-id', ctx.auditId);
  try {
    // 2. Health endpoints are kubegate's own: answered before authentication, never proxied.
    if (await answerHealth(deps, req, res)) return;
    // Every other request gets exactly one audit record, written when its response is complete.
    res.once('close', () => deps.audit.write(auditEvent(ctx, res.statusCode)));
    // 3. Authenticate the bearer ID token and map its claims to the user to impersonate.
    ctx.user = await deps.authenticator.authenticate(bearerToken(req));
    // 4. (elevation will adjust the impersonated identity here)
    ctx.impersonated = ctx.user;
    // 5. Hygiene, then kubegate's own credential and Impersonate-* headers, set in exactly one place.
    const { headers, strippedImpersonation } = outgoingHeaders(req.headers, {
      user: ctx.impersonated,
      authorization: deps.upstream.authorization(),
      auditId: ctx.auditId,
      clientAddress: ctx.clientAddress,
    });
    ctx.strippedImpersonation = strippedImpersonation;
    // 6. Forward, streaming both ways.
    await deps.forwarder.forward(req, res, headers);
  } catch (thrown) {
    fail(deps, ctx, req, res, asKubegateError(thrown));
  }
}

function fail(deps: PipelineDeps, ctx: RequestContext, req: IncomingMessage, res: ServerResponse, err: KubegateError): void {
  ctx.errorCode = err.code;
  if (ctx.strippedImpersonation.length === 0) ctx.strippedImpersonation = impersonationHeaderNames(req);
  const level = err.status >= 500 ? 'error' : 'info';
  deps.log.log(level, 'request refused', {
    auditID: ctx.auditId,
    code: err.code,
    reason: err.message,
    ...err.details,
    ...(err.cause instanceof Error && !(err.cause instanceof KubegateError) && err.status >= 500 ? { cause: err.cause.message } : {}),
  });
  sendError(res, err, ctx.auditId);
}

function newContext(req: IncomingMessage): RequestContext {
  const ua = req.headers['user-agent'];
  return {
    auditId: randomUUID(),
    receivedAt: new Date(),
    clientAddress: req.socket.remoteAddress ?? 'unknown',
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    userAgent: typeof ua === 'string' ? ua : undefined,
    strippedImpersonation: [],
  };
}

const HEALTH_PATHS = new Set(['/healthz', '/livez', '/readyz']);

async function answerHealth(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (!HEALTH_PATHS.has(path)) return false;
  if (path !== '/readyz') {
    sendJson(res, 200, 'ok');
    return true;
  }
  const problems: string[] = [];
  if (!deps.authenticator.ready()) problems.push('oidc: issuer keys not loaded');
  if (!(await deps.upstream.probe())) problems.push('upstream: API server unreachable or refusing kubegate\'s credentials');
  sendJson(res, problems.length ? 503 : 200, problems.length ? problems.join('\n') + '\n' : 'ok');
  return true;
}

/** The single `Authorization: Bearer <token>` header; anything else is a 401. */
function bearerToken(req: IncomingMessage): string {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'authorization') count++;
  if (count === 0) throw new KubegateError('AUTHN_MISSING_TOKEN', 'no Authorization header');
  if (count > 1) throw new KubegateError('AUTHN_MALFORMED_HEADER', 'more than one Authorization header');
  const match = /^Bearer +([^ ]+) *$/i.exec(req.headers.authorization ?? '');
  if (!match) throw new KubegateError('AUTHN_MALFORMED_HEADER', 'Authorization header is not a bearer token');
  return match[1]!;
}

function impersonationHeaderNames(req: IncomingMessage): string[] {
  const names: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    if (name.startsWith('impersonate-')) names.push(name);
  }
  return names;
}
