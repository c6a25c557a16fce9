/**
 * The request path, top to bottom. Each stage is a small function over the per-request context and
 * leaves by throwing a coded KubegateError; the catch at the bottom of each path is the single exit that
 * turns any error into a Kubernetes Status response and an audit record.
 *
 * Ordinary requests and protocol upgrades share every stage up to forwarding.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'winston';
import { auditEvent } from '../audit/event.js';
import { parseRequestInfo } from '../audit/request-info.js';
import type { AuditSink } from '../audit/sink.js';
import type { Authenticator } from '../authn/authenticator.js';
import { bearerToken } from '../authn/bearer.js';
import { asKubegateError, KubegateError } from '../errors/errors.js';
import { clientIdentityHeaders, outgoingHeaders, type RequestHeaderNames, type UpgradeProtocol } from '../impersonation/headers.js';
import type { Forwarder } from '../proxy/forward.js';
import { isLongRunning, limitsFor, type LimitSettings, type Limits } from '../proxy/limits.js';
import { writeStatus } from '../errors/raw-response.js';
import { classifyUpgrade, type UpgradeForwarder } from '../proxy/upgrade.js';
import type { Upstream } from '../upstream/upstream.js';
import type { RequestContext } from './context.js';
import { sendError, sendJson } from './respond.js';

export interface PipelineDeps {
  authenticator: Authenticator;
  upstream: Upstream;
  forwarder: Forwarder;
  upgrades: UpgradeForwarder;
  limits: LimitSettings;
  /** `impersonation.requestHeader`: front-proxy header names stripped beyond the X-Remote-* defaults. */
  requestHeaderNames: RequestHeaderNames;
  audit: AuditSink;
  log: Logger;
}

export interface Handlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Resolves when every request in flight has finished (and written its audit record). */
  drain(): Promise<void>;
}

export function createHandlers(deps: PipelineDeps): Handlers {
  const inflight = new Set<Promise<void>>();
  const track = (work: Promise<void>) => {
    inflight.add(work);
    void work.finally(() => inflight.delete(work));
  };
  return {
    request: (req, res) => track(handleRequest(deps, req, res)),
    upgrade: (req, socket, head) => track(handleUpgrade(deps, req, socket, head)),
    drain: async () => {
      await Promise.allSettled([...inflight]);
    },
  };
}

async function handleRequest(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // 1. Scope first: every later stage, the response and the audit record share its audit ID.
  const ctx = newContext(req);
  res.setHeader('audit-id', ctx.auditId);
  try {
    // 2. Health endpoints are kubegate's own: answered before authentication, never proxied.
    if (await answerHealth(deps, req, res)) return;
    // Every other request gets exactly one audit record, written when its response is complete.
    res.once('close', () => deps.audit.write(auditEvent(ctx, res.statusCode)));
    checkRequestTarget(ctx.url);
    // An Upgrade header without `Connection: upgrade` reaches here as an ordinary request: refuse it
    // rather than forward a plain request to an exec or port-forward endpoint.
    if (req.headers.upgrade !== undefined) throw new KubegateError('UPGRADE_UNSUPPORTED', 'Upgrade header without Connection: upgrade');
    // 3–5. Authenticate, map, build the outgoing headers.
    const { headers, limits } = await prepare(deps, ctx, req, undefined);
    // 6. Forward, streaming both ways.
    await deps.forwarder.forward(req, res, headers, limits);
  } catch (thrown) {
    const err = refused(deps, ctx, req, thrown);
    sendError(res, err, ctx.auditId);
  }
}

async function handleUpgrade(deps: PipelineDeps, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const ctx = newContext(req);
  try {
    // 1. Only WebSocket and SPDY/3.1 are relayed; anything else is refused before authentication.
    checkRequestTarget(ctx.url);
    const protocol = classifyUpgrade(req);
    // 2–5. Exactly the stages of an ordinary request.
    const { headers, limits } = await prepare(deps, ctx, req, protocol);
    // 6. One dedicated upstream connection; audited when the session ends.
    const outcome = await deps.upgrades.forward(req, socket, head, headers, limits);
    deps.audit.write(
      auditEvent(ctx, outcome.statusCode, new Date(), {
        'kubegate.io/upgrade-protocol': protocol,
        'kubegate.io/session-duration-seconds': (outcome.durationMs / 1000).toFixed(3),
        'kubegate.io/bytes-from-client': String(outcome.bytesFromClient),
        'kubegate.io/bytes-to-client': String(outcome.bytesToClient),
      }),
    );
  } catch (thrown) {
    const err = refused(deps, ctx, req, thrown);
    deps.audit.write(auditEvent(ctx, err.status));
    writeStatus(socket, err, ctx.auditId);
  }
}

/** Stages 3–5, shared by both paths. */
async function prepare(
  deps: PipelineDeps,
  ctx: RequestContext,
  req: IncomingMessage,
  upgrade: UpgradeProtocol | undefined,
): Promise<{ headers: OutgoingHttpHeaders; limits: Limits }> {
  // 3. Authenticate the bearer ID token and map its claims to the user to impersonate.
  ctx.user = await deps.authenticator.authenticate(bearerToken(req, { websocket: upgrade === 'websocket' }));
  // 4. (elevation will adjust the impersonated identity here)
  ctx.impersonated = ctx.user;
  // 5. Hygiene, then kubegate's own credential and Impersonate-* headers, set in exactly one place.
  const { headers, strippedImpersonation, strippedRequestHeaders } = outgoingHeaders(req.headers, {
    user: ctx.impersonated,
    authorization: deps.upstream.authorization(),
    auditId: ctx.auditId,
    clientAddress: ctx.clientAddress,
    upgrade,
    requestHeaderNames: deps.requestHeaderNames,
  });
  ctx.strippedImpersonation = strippedImpersonation;
  ctx.strippedRequestHeaders = strippedRequestHeaders;
  return { headers, limits: limitsFor(upgrade !== undefined || isLongRunning(ctx.info), deps.limits) };
}

/** Record and log why a request was refused; returns the coded error to send. */
function refused(deps: PipelineDeps, ctx: RequestContext, req: IncomingMessage, thrown: unknown): KubegateError {
  const err = asKubegateError(thrown);
  ctx.errorCode = err.code;
  if (ctx.strippedImpersonation.length === 0 && ctx.strippedRequestHeaders.length === 0) {
    // Refused before hygiene ran: still record which identity headers the client tried.
    const tried = clientIdentityHeaders(req.rawHeaders, deps.requestHeaderNames);
    ctx.strippedImpersonation = tried.impersonation;
    ctx.strippedRequestHeaders = tried.requestHeaders;
  }
  deps.log.log(err.status >= 500 ? 'error' : 'info', 'request refused', {
    auditID: ctx.auditId,
    code: err.code,
    reason: err.message,
    ...err.details,
  });
  return err;
}

function newContext(req: IncomingMessage): RequestContext {
  const ua = req.headers['user-agent'];
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  return {
    auditId: randomUUID(),
    receivedAt: new Date(),
    clientAddress: req.socket.remoteAddress ?? 'unknown',
    method,
    url,
    userAgent: typeof ua === 'string' ? ua : undefined,
    info: parseRequestInfo(method, url),
    strippedImpersonation: [],
    strippedRequestHeaders: [],
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

/**
 * The request target is forwarded byte for byte and audited from the same string, so it must be one
 * the API server reads the same way: origin-form (`/path?query`), without a fragment or backslashes.
 */
function checkRequestTarget(url: string): void {
  if (!url.startsWith('/') || url.includes('#') || url.includes('\\')) {
    throw new KubegateError('REQUEST_UNSUPPORTED', 'request target is not an origin-form path', { details: { target: url.slice(0, 80) } });
  }
}
