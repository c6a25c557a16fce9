/**
 * The request path, top to bottom. Each stage is a small function over the per-request context and
 * leaves by throwing a coded KubegateError; the catch at the bottom of each path is the single exit that
 * turns any error into a Kubernetes Status response.
 *
 * Each request's lifecycle is owned by one Exchange (request/exchange.ts), opened before the first
 * `await`: it writes the request's one audit record once the outcome is known. After every `await` the
 * path checks whether the client is still there: nothing is forwarded or answered for a client that
 * has gone.
 *
 * Ordinary requests and protocol upgrades share every stage up to forwarding.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { isGone, isHttp2Response, type ClientRequest, type ClientResponse } from '../net/wire.js';
import type { Duplex } from 'node:stream';
import type { Logger } from 'winston';
import type { Metrics } from '../metrics/metrics.js';
import { auditEvent } from '../audit/event.js';
import { parseRequestInfo } from '../request/request-info.js';
import type { AuditTrail } from '../audit/trail.js';
import type { Authenticator } from '../authn/authenticator.js';
import type { AuthGuard } from '../guard/auth-guard.js';
import { clientAddress, type TrustedProxies } from '../guard/client-address.js';
import { bearerToken } from '../authn/bearer.js';
import { asKubegateError, KubegateError } from '../errors/errors.js';
import type { UserInfo } from '../identity/user.js';
import { authorizeImpersonation, ELEVATION_EXTRA, parseImpersonationRequest } from '../impersonation/client-request.js';
import { clientIdentityHeaders, outgoingHeaders, type RequestHeaderNames, type UpgradeProtocol } from '../impersonation/headers.js';
import type { Forwarder } from '../proxy/forward.js';
import { isLongRunning, limitsFor, type LimitSettings, type Limits } from '../proxy/limits.js';
import { writeStatus } from '../errors/raw-response.js';
import { classifyUpgrade, type UpgradeForwarder } from '../proxy/upgrade.js';
import type { RequestContext, Outcome } from '../request/context.js';
import { responseExchange, socketExchange, type Exchange, type SocketExchange } from '../request/exchange.js';
import type { AccessReviewer } from '../upstream/access-review.js';
import type { GrantService } from '../elevation/grants.js';
import { answerOwnApi, isOwnApi } from '../routes/elevations.js';
import type { LoginPage } from '../routes/login-page.js';
import { answerRevocationApi, isRevocationApi } from '../routes/revocations.js';
import type { RevocationService } from '../revocation/service.js';
import type { RevocationVerdict } from '../revocation/types.js';
import type { Upstream } from '../upstream/upstream.js';
import { sendError, sendJson } from './respond.js';

export interface PipelineDeps {
  authenticator: Authenticator;
  upstream: Upstream;
  forwarder: Forwarder;
  upgrades: UpgradeForwarder;
  limits: LimitSettings;
  /** `impersonation.requestHeader`: front-proxy header names stripped beyond the X-Remote-* defaults. */
  requestHeaderNames: RequestHeaderNames;
  /** `impersonation.allowClientImpersonation`: honour `kubectl --as` where RBAC allows it. */
  allowClientImpersonation: boolean;
  /** Failed-authentication rate limits and token policies around the authenticator (`security.*`). */
  guard: AuthGuard;
  /** `security.trustedProxies`: whose X-Forwarded-For is believed for the client address. */
  trustedProxies: TrustedProxies;
  /** SubjectAccessReviews with kubegate's own credential (client impersonation checks). */
  reviewer: AccessReviewer;
  /** Break-glass grants; undefined when elevation is not configured. */
  grants?: GrantService | undefined;
  /** Revocations: checked after authentication on every request; undefined when not configured. */
  revocations?: RevocationService | undefined;
  metrics: Pick<Metrics, 'requests' | 'authenticationFailures' | 'inflight' | 'auditRecords'>;
  /** The sign-in page (`/kubegate/login…`): answered before authentication, never forwarded. */
  loginPage?: Pick<LoginPage, 'handles' | 'handle'> | undefined;
  audit: AuditTrail;
  log: Logger;
}

export interface Handlers {
  request(req: ClientRequest, res: ClientResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** A request Node's HTTP parser refused (`clientError`): answered 400/431 and audited. */
  unparsable(err: NodeJS.ErrnoException, socket: Duplex): void;
  /** Plain HTTP sent to the TLS port (`socket` is the raw TCP connection): answered 400 and audited. */
  plainHttp(socket: Duplex): void;
  /** Requests whose audit record is not written yet. */
  inflight(): number;
  /**
   * kubegate is shutting down: `/readyz` answers 503, responses carry `Connection: close` so clients
   * take their next request elsewhere; with `stopLongRunning`, watches end cleanly and sessions close.
   */
  drainMode(stopLongRunning: boolean): void;
  /** Whether drainMode was entered. */
  draining(): boolean;
  /** Resolves when every request in flight has finished and written its audit record. */
  drain(): Promise<void>;
}

export function createHandlers(deps: PipelineDeps): Handlers {
  const inflight = new Set<Exchange>();
  let draining = false;
  const record = (ctx: RequestContext, outcome: Outcome) => {
    const event = auditEvent(ctx, outcome);
    // The exchange's decision was made from the attributes this record carries (audit/event.ts contextAttributes).
    deps.audit.write(event, outcome.audit);
    deps.metrics.requests.inc({ verb: event.verb, resource: ctx.info.resource ?? '', code: String(event.responseStatus.code), outcome: outcome.kind });
    if (ctx.errorCode?.startsWith('AUTHN_')) deps.metrics.authenticationFailures.inc({ reason: ctx.errorCode });
  };
  const clientGone = (ctx: RequestContext) => () => deps.log.debug('client closed the connection before the response was complete', { auditID: ctx.auditId });
  const track = (ex: Exchange, work: Promise<void>, upgrade = false) => {
    inflight.add(ex);
    const kind = upgrade ? 'upgrade' : isLongRunning(ex.ctx.info) ? 'long-running' : 'ordinary';
    deps.metrics.inflight.inc({ kind });
    void ex.recorded.finally(() => {
      inflight.delete(ex);
      deps.metrics.inflight.dec({ kind });
    });
    // A revocation ends the person's watches and sessions in flight (watches end cleanly, sessions are closed).
    const unregister = kind === 'ordinary' ? undefined : deps.revocations?.sessions.register({ user: () => ex.ctx.user, session: () => ex.ctx.session, end: (verdict) => endRevoked(ex, verdict) });
    if (unregister) void ex.recorded.finally(unregister);
    // The pipeline never throws past its own catch; settling here makes sure the record is written.
    void work.finally(() => ex.settle());
  };
  return {
    request(req, res) {
      // 2. Health endpoints are kubegate's own: answered before authentication, never proxied or audited.
      // HTTP/2 has no Connection header: its session gets a GOAWAY from the listener instead.
      if (draining && !isHttp2Response(res)) res.setHeader('connection', 'close');
      const health = healthPath(req.url);
      if (health !== undefined) return void answerHealth(deps, health, res, draining);
      // The sign-in page is how a person without a token gets one: kubegate's own, before authentication.
      if (deps.loginPage?.handles(req.url ?? '/')) return void deps.loginPage.handle(req, res);
      const ctx = newContext(req, clientAddress(req.socket.remoteAddress, forwardedFor(req.rawHeaders), deps.trustedProxies));
      const ex = responseExchange(ctx, res, record, clientGone(ctx), deps.audit.hooks);
      ex.annotate('kubegate.io/client-http-version', req.httpVersion);
      track(ex, handleRequest(deps, ex, req, res));
    },
    upgrade(req, socket, head) {
      const ctx = newContext(req, clientAddress(req.socket.remoteAddress, forwardedFor(req.rawHeaders), deps.trustedProxies));
      const ex = socketExchange(ctx, socket, record, clientGone(ctx), deps.audit.hooks);
      track(ex, handleUpgrade(deps, ex, req, socket, head), true);
    },
    unparsable(err, socket) {
      const ctx = unparsableContext(err, (socket as { remoteAddress?: string }).remoteAddress);
      const ex = socketExchange(ctx, socket, record, clientGone(ctx), deps.audit.hooks);
      ex.stopWatching();
      const refusal = refused(deps, ex, undefined, new KubegateError(err.code === 'HPE_HEADER_OVERFLOW' ? 'REQUEST_HEADERS_TOO_LARGE' : 'REQUEST_MALFORMED', `unparsable request: ${err.code}`));
      ex.statusSent(refusal.status);
      writeStatus(socket, refusal, ctx.auditId);
      track(ex, Promise.resolve());
    },
    plainHttp(socket) {
      const ctx = context('', '', (socket as { remoteAddress?: string }).remoteAddress, undefined);
      const ex = socketExchange(ctx, socket, record, clientGone(ctx), deps.audit.hooks);
      ex.stopWatching();
      const refusal = refused(deps, ex, undefined, new KubegateError('REQUEST_PLAIN_HTTP', 'plain HTTP on the HTTPS port'));
      ex.statusSent(refusal.status);
      writeStatus(socket, refusal, ctx.auditId);
      track(ex, Promise.resolve());
    },
    inflight: () => inflight.size,
    draining: () => draining,
    drainMode(stopLongRunning) {
      draining = true;
      if (stopLongRunning) for (const ex of inflight) ex.stop();
    },
    drain: async () => {
      await Promise.allSettled([...inflight].map((ex) => ex.recorded));
    },
  };
}

async function handleRequest(deps: PipelineDeps, ex: Exchange, req: ClientRequest, res: ClientResponse): Promise<void> {
  // 1. Scope first: every later stage, the response and the audit record share its audit ID.
  const ctx = ex.ctx;
  res.setHeader('audit-id', ctx.auditId);
  try {
    checkRequestTarget(ctx.url);
    // --audit-fail-closed: nothing is served while the audit trail cannot be written (503).
    deps.audit.admit();
    // An Upgrade header without `Connection: upgrade` reaches here as an ordinary request: refuse it
    // rather than forward a plain request to an exec or port-forward endpoint.
    if (req.headers.upgrade !== undefined) throw new KubegateError('UPGRADE_UNSUPPORTED', 'Upgrade header without Connection: upgrade');
    // 3. Authenticate the bearer ID token and map its claims to the person.
    await authenticate(deps, ctx, req, undefined);
    checkRevoked(deps, ex);
    // The person is known and not revoked: the audit policy decides the level; RequestReceived is written.
    ex.received();
    if (ex.clientGone) return;
    // kubegate's own API (break-glass elevation) is answered here, as the person, and never forwarded.
    if (isOwnApi(ctx.url)) return await ownApi(deps, ctx, req, res);
    // 4–5. The identity to impersonate, then the outgoing headers.
    const { headers, limits } = await prepare(deps, ctx, req, undefined);
    // The client may have left while its token was verified: then nothing is forwarded.
    if (ex.clientGone) return;
    // 6. Forward, streaming both ways.
    await deps.forwarder.forward(req, res, headers, limits, ex);
  } catch (thrown) {
    const err = refused(deps, ex, req, thrown);
    if (!ex.clientGone) sendError(res, err, ctx.auditId);
  }
}

async function handleUpgrade(deps: PipelineDeps, ex: SocketExchange, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const ctx = ex.ctx;
  try {
    // 1. Only WebSocket and SPDY/3.1 are relayed; anything else is refused before authentication.
    checkRequestTarget(ctx.url);
    const protocol = classifyUpgrade(req);
    ex.annotate('kubegate.io/upgrade-protocol', protocol);
    deps.audit.admit();
    if (isOwnApi(ctx.url)) throw new KubegateError('UPGRADE_UNSUPPORTED', 'upgrade to kubegate\'s own API');
    // 3–5. Exactly the stages of an ordinary request.
    await authenticate(deps, ctx, req, protocol);
    checkRevoked(deps, ex);
    ex.received();
    const { headers, limits } = await prepare(deps, ctx, req, protocol);
    // Until here the socket was read so a client leaving was noticed; bytes it sent go after the request.
    const early = ex.stopWatching();
    if (ex.clientGone) return;
    // 6. One dedicated upstream connection; the record is written when the session ends.
    const outcome = await deps.upgrades.forward(req, socket, early.length > 0 ? Buffer.concat([head, early]) : head, headers, limits, ex);
    if (outcome.error) refused(deps, ex, req, outcome.error);
    ex.annotate('kubegate.io/session-duration-seconds', (outcome.durationMs / 1000).toFixed(3));
    ex.annotate('kubegate.io/bytes-from-client', String(outcome.bytesFromClient));
    ex.annotate('kubegate.io/bytes-to-client', String(outcome.bytesToClient));
  } catch (thrown) {
    const err = refused(deps, ex, req, thrown);
    ex.stopWatching();
    if (ex.clientGone) return;
    ex.statusSent(err.status);
    writeStatus(socket, err, ctx.auditId);
  }
}

/**
 * Stage 3, shared by both paths: the bearer ID token → the person and how they logged in, under the
 * failed-authentication rate limits and the token policies (guard/auth-guard.ts).
 */
async function authenticate(deps: PipelineDeps, ctx: RequestContext, req: ClientRequest, upgrade: UpgradeProtocol | undefined): Promise<void> {
  const { user, session } = await deps.guard.authenticate(deps.authenticator, () => bearerToken(req, { websocket: upgrade === 'websocket' }), ctx.clientAddress);
  ctx.user = user;
  ctx.session = session;
}

/**
 * Stage 3b, shared by both paths: revocations, checked on every request after authentication (the
 * authenticator answers cached identities too, so a cached token never outlives a revocation).
 */
function checkRevoked(deps: PipelineDeps, ex: Exchange): void {
  const verdict = deps.revocations?.check(ex.ctx.user!, ex.ctx.session!);
  if (verdict === undefined) return;
  ex.annotate('kubegate.io/revocation-id', verdict.revocation.id);
  throw new KubegateError('AUTHN_REVOKED', `revoked by ${verdict.revocation.id}`, { clientMessage: verdict.message, details: { revocation: verdict.revocation.id } });
}

/** A revocation arrived while this request runs: record why, then end it as a shutdown would. */
function endRevoked(ex: Exchange, verdict: RevocationVerdict): void {
  ex.annotate('kubegate.io/revocation-id', verdict.revocation.id);
  ex.annotate('kubegate.io/revocation-reason', verdict.revocation.reason);
  ex.endedBy('revoked');
  ex.stop();
}

/** Stages 4–5, shared by both paths. */
async function prepare(
  deps: PipelineDeps,
  ctx: RequestContext,
  req: ClientRequest,
  upgrade: UpgradeProtocol | undefined,
): Promise<{ headers: OutgoingHttpHeaders; limits: Limits }> {
  const person = ctx.user!;
  // 4a. Break-glass: the person's grants in force add their groups (and the grant ids as an extra).
  const elevated = withGrants(deps, ctx, person);
  // 4b. `kubectl --as`: act as another identity only where the cluster's RBAC lets the (elevated) person
  // impersonate it (one SubjectAccessReview per attribute).
  ctx.impersonated = await impersonationTarget(deps, elevated, req);
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

function withGrants(deps: PipelineDeps, ctx: RequestContext, person: UserInfo): UserInfo {
  const grants = deps.grants?.active(person.username) ?? [];
  if (grants.length === 0) return person;
  ctx.elevations = grants.map((g) => ({ id: g.id, reason: g.reason }));
  return {
    ...person,
    groups: [...new Set([...person.groups, ...grants.flatMap((g) => g.groups)])],
    extra: { ...person.extra, [ELEVATION_EXTRA]: grants.map((g) => g.id) },
  };
}

async function ownApi(deps: PipelineDeps, ctx: RequestContext, req: ClientRequest, res: ClientResponse): Promise<void> {
  if (parseImpersonationRequest(req.rawHeaders) !== undefined) {
    throw new KubegateError('IMPERSONATION_INVALID', 'impersonation headers on kubegate\'s own API', { clientMessage: 'kubegate\'s own API acts as the authenticated person: impersonation headers are not accepted' });
  }
  if (isRevocationApi(ctx.url)) return answerRevocationApi(deps.revocations, { person: ctx.user!, session: ctx.session!, auditId: ctx.auditId, method: ctx.method, url: ctx.url, req, res });
  await answerOwnApi(deps.grants, { person: ctx.user!, session: ctx.session!, auditId: ctx.auditId, method: ctx.method, url: ctx.url, req, res });
}

async function impersonationTarget(deps: PipelineDeps, person: UserInfo, req: ClientRequest): Promise<UserInfo> {
  const asked = parseImpersonationRequest(req.rawHeaders);
  if (asked === undefined) return person;
  if (!deps.allowClientImpersonation) throw new KubegateError('IMPERSONATION_DISABLED', 'client impersonation headers while --allow-client-impersonation=false');
  return authorizeImpersonation(person, asked, deps.reviewer);
}

/** Longest refusal reason kept in the audit record. */
const AUDIT_REASON_MAX = 300;

/**
 * Record and log why a request was refused; returns the coded error to send. The precise reason (the
 * error's message: "token rejected: \"exp\" claim timestamp check failed", "unknown kid", …; never a token)
 * goes to the operational log at info (error for 5xx) under the audit ID, and to the audit record as
 * `kubegate.io/error-reason`; the client sees only the code's message.
 */
function refused(deps: PipelineDeps, ex: Exchange, req: ClientRequest | undefined, thrown: unknown): KubegateError {
  const err = asKubegateError(thrown);
  const ctx = ex.ctx;
  ctx.errorCode = err.code;
  ex.annotate('kubegate.io/error-reason', err.message.length > AUDIT_REASON_MAX ? `${err.message.slice(0, AUDIT_REASON_MAX)}…` : err.message);
  if (req !== undefined && ctx.strippedImpersonation.length === 0 && ctx.strippedRequestHeaders.length === 0) {
    // Refused before hygiene ran: still record which identity headers the client tried.
    const tried = clientIdentityHeaders(req.rawHeaders, deps.requestHeaderNames);
    ctx.strippedImpersonation = tried.impersonation;
    ctx.strippedRequestHeaders = tried.requestHeaders;
  }
  // Details first: a detail named like a field below (jose's `reason`) must not replace it.
  const { reason: check, ...details } = err.details;
  deps.log.log(err.status >= 500 ? 'error' : 'info', 'request refused', {
    ...details,
    ...(check !== undefined && { check }),
    auditID: ctx.auditId,
    code: err.code,
    reason: err.message,
  });
  return err;
}

/** Every X-Forwarded-For value, in order (only believed from a trusted proxy). */
function forwardedFor(rawHeaders: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    // Lower-cased only when the length matches: no new string per header on every request.
    if (name.length === X_FORWARDED_FOR.length && name.toLowerCase() === X_FORWARDED_FOR) values.push(rawHeaders[i + 1]!);
  }
  return values;
}
const X_FORWARDED_FOR = 'x-forwarded-for';

function newContext(req: ClientRequest, clientAddress: string | undefined): RequestContext {
  const ua = req.headers['user-agent'];
  return context(req.method ?? 'GET', req.url ?? '', clientAddress, typeof ua === 'string' ? ua : undefined);
}

function context(method: string, url: string, clientAddress: string | undefined, userAgent: string | undefined): RequestContext {
  return {
    auditId: randomUUID(),
    receivedAt: new Date(),
    clientAddress: clientAddress ?? 'unknown',
    method,
    url,
    userAgent,
    info: parseRequestInfo(method, url),
    strippedImpersonation: [],
    strippedRequestHeaders: [],
  };
}

/** What can be read of a request Node could not parse: its request line, if it has one. */
function unparsableContext(err: NodeJS.ErrnoException & { rawPacket?: unknown }, clientAddress: string | undefined): RequestContext {
  const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.subarray(0, 2048).toString('latin1') : '';
  const line = /^([A-Z]{1,20}) (\/[\x21-\x7e]{0,1024}) HTTP\/1\.[01]\r?\n/.exec(raw);
  return context(line?.[1] ?? '', line?.[2] ?? '', clientAddress, undefined);
}

const HEALTH_PATHS = new Set(['/healthz', '/livez', '/readyz']); // at most 8 characters (healthPath relies on it)

function healthPath(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  // No health path is longer than 8 characters: the path of an API request is not copied out.
  if ((q < 0 ? url.length : q) > 8) return undefined;
  const path = q < 0 ? url : url.slice(0, q);
  return HEALTH_PATHS.has(path) ? path : undefined;
}

async function answerHealth(deps: PipelineDeps, path: string, res: ClientResponse, draining: boolean): Promise<void> {
  if (path !== '/readyz') return sendJson(res, 200, 'ok');
  if (draining) return sendJson(res, 503, 'shutting down\n');
  // Unauthenticated: states only, never error details.
  const problems: string[] = [];
  const keys = deps.authenticator.keyStatus();
  if (!keys.ready) problems.push('oidc: issuer keys not loaded');
  if (!(await deps.upstream.probe())) problems.push('upstream: API server unreachable or refusing kubegate\'s credentials');
  if (isGone(res)) return;
  // Stale keys still verify tokens (the last good set is kept while refreshes fail): ready, with a note.
  const note = keys.ready && keys.stale ? '\noidc: key set refresh failing; verifying with the last good keys\n' : '';
  sendJson(res, problems.length ? 503 : 200, problems.length ? problems.join('\n') + '\n' : `ok${note}`);
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
