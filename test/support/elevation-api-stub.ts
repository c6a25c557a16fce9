/**
 * A RECORDING STAND-IN for kubegate's elevation API — NOT kubegate. It exists so the client commands
 * (`kubegate sudo`, `kubegate elevations`) can be tested against the HTTP contract without the server:
 *
 *   POST /kubegate/v1/elevations               ElevationRequest → 201 Elevation (Pending or Active)
 *   GET  /kubegate/v1/elevations               → 200 ElevationList (the caller's own; all for approvers)
 *   GET  /kubegate/v1/elevations/{id}          → 200 Elevation
 *   POST /kubegate/v1/elevations/{id}/approve  → 200 Elevation
 *   POST /kubegate/v1/elevations/{id}/revoke   → 200 Elevation
 *   every error: a Kubernetes Status; 404 NotFound on the collection when elevation is not configured.
 *
 * An HTTPS server on 127.0.0.1 (random port, TLS from the test PKI) under an optional path prefix, with an
 * in-memory store and a toy policy (a few rules: groups, maximum duration, whether a second person must
 * approve). Bearer tokens map to usernames. It records every request (method, path, Authorization, body)
 * so tests can assert what the client sent, and lets a test script answers: a Status error or any raw
 * answer for the next matching request, or a decision (approve, revoke, expire) when an elevation has
 * been polled N times. Nothing here decides what kubegate itself does.
 */
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Elevation, ElevationRequest } from '../../src/elevation/types.js';
import type { CertPair } from './pki.js';

export interface RecordedRequest {
  method: string;
  /** Path and query as received (prefix included). */
  path: string;
  authorization: string | undefined;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, undefined when empty or not JSON. */
  body: unknown;
  rawBody: string;
}

export interface StubStatus {
  code: number;
  reason: string;
  message: string;
}

export interface StubRule {
  name: string;
  groups: string[];
  maxDurationSeconds: number;
  /** A second person must approve: created Pending. */
  approval: boolean;
}

export interface StubOptions {
  /** The serving certificate (createPki().server()). */
  serving: CertPair;
  /** Served under this prefix, e.g. `/gate` ('' by default). */
  pathPrefix?: string;
  /** Bearer token → username. */
  tokens?: Record<string, string>;
  /** Usernames who see and approve everyone's elevations. */
  approvers?: string[];
  /** false: 404 NotFound on the collection, as a kubegate without elevation configured. */
  enabled?: boolean;
  rules?: StubRule[];
}

export interface RequestMatch {
  method?: string;
  /** Compared with the path after the prefix (e.g. `/kubegate/v1/elevations`); a string must match exactly. */
  path?: string | RegExp;
}

/** A scripted answer: write to `res` and return true to answer, false to fall through to the contract. */
export type ScriptedAnswer = (req: IncomingMessage, res: ServerResponse, body: string) => boolean;

export interface ElevationApiStub {
  /** `https://127.0.0.1:<port><prefix>`: what a kubeconfig's `server:` says. */
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  readonly elevations: Map<string, Elevation>;
  /** Requests whose path (after the prefix) is under /kubegate/v1/elevations. */
  apiRequests(): RecordedRequest[];
  /** Put an elevation in the store as is. */
  seed(elevation: Elevation): void;
  /** Answer the next request matching `match` with this Status failure (once). */
  refuseNext(match: RequestMatch, status: StubStatus): void;
  /** Answer the next request matching `match` with `answer` (once). */
  answerNext(match: RequestMatch, answer: ScriptedAnswer): void;
  /**
   * When `GET /kubegate/v1/elevations/{id}` has been received `n` times (any id; counted from now), apply
   * `decision` to that elevation before answering, as `by`.
   */
  decideAfterGets(n: number, decision: 'approve' | 'revoke' | 'expire', by?: string): void;
  close(): Promise<void>;
}

export const DEFAULT_TOKENS: Record<string, string> = { 'tok-alice': 'alice', 'tok-bob': 'bob', 'tok-carol': 'carol' };
export const DEFAULT_RULES: StubRule[] = [
  { name: 'oncall', groups: ['oncall-admin', 'oncall-viewer'], maxDurationSeconds: 3600, approval: false },
  { name: 'prod-admin', groups: ['prod-admin'], maxDurationSeconds: 1800, approval: true },
];
const PENDING_SECONDS = 900;
const MAX_BODY = 64 * 1024;
const COLLECTION = '/kubegate/v1/elevations';

export async function startElevationApiStub(options: StubOptions): Promise<ElevationApiStub> {
  const prefix = (options.pathPrefix ?? '').replace(/\/+$/, '');
  const tokens = options.tokens ?? DEFAULT_TOKENS;
  const approvers = new Set(options.approvers ?? ['bob']);
  const rules = options.rules ?? DEFAULT_RULES;
  const enabled = options.enabled ?? true;
  const requests: RecordedRequest[] = [];
  const elevations = new Map<string, Elevation>();
  const scripted: { match: RequestMatch; answer: ScriptedAnswer }[] = [];
  const decisions: { n: number; decision: 'approve' | 'revoke' | 'expire'; by: string }[] = [];
  let gets = 0;
  let seq = 0;

  const send = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const status = (res: ServerResponse, s: StubStatus) =>
    send(res, s.code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: s.message, reason: s.reason, code: s.code });
  const matches = (m: RequestMatch, method: string, path: string) =>
    (m.method === undefined || m.method === method) && (m.path === undefined || (typeof m.path === 'string' ? m.path === path : m.path.test(path)));

  const decide = (e: Elevation, decision: 'approve' | 'revoke' | 'expire', by: string): Elevation => {
    const now = new Date();
    const next: Elevation = { ...e };
    if (decision === 'approve') {
      next.phase = 'Active';
      next.approvedBy = by;
      next.approvedAt = now.toISOString();
      next.activeAt = now.toISOString();
      next.expiresAt = new Date(now.getTime() + e.durationSeconds * 1000).toISOString();
      delete next.pendingExpiresAt;
    } else if (decision === 'revoke') {
      next.phase = 'Revoked';
      next.revokedBy = by;
      next.revokedAt = now.toISOString();
    } else {
      next.phase = 'Expired';
    }
    elevations.set(e.id, next);
    return next;
  };

  const create = (user: string, body: unknown, res: ServerResponse) => {
    const r = body as Partial<ElevationRequest> | undefined;
    if (
      typeof r !== 'object' || r === null ||
      !Array.isArray(r.groups) || r.groups.length === 0 || !r.groups.every((g) => typeof g === 'string') ||
      typeof r.durationSeconds !== 'number' || !Number.isInteger(r.durationSeconds) || r.durationSeconds <= 0 ||
      typeof r.reason !== 'string'
    ) {
      return status(res, { code: 400, reason: 'BadRequest', message: 'the request body is not a valid ElevationRequest' });
    }
    const rule = rules.find((x) => r.groups!.every((g) => x.groups.includes(g)));
    if (!rule) {
      const missing = r.groups.find((g) => !rules.some((x) => x.groups.includes(g))) ?? r.groups[0];
      return status(res, { code: 403, reason: 'Forbidden', message: `not eligible for group ${missing}` });
    }
    if (r.durationSeconds > rule.maxDurationSeconds) {
      return status(res, { code: 403, reason: 'Forbidden', message: `duration ${r.durationSeconds}s exceeds the rule's maximum ${rule.maxDurationSeconds}s` });
    }
    const now = new Date();
    const e: Elevation = {
      id: `elev-${++seq}`,
      requester: user,
      groups: r.groups,
      durationSeconds: r.durationSeconds,
      reason: r.reason,
      rule: rule.name,
      phase: rule.approval ? 'Pending' : 'Active',
      createdAt: now.toISOString(),
      resourceVersion: '1',
    };
    if (rule.approval) e.pendingExpiresAt = new Date(now.getTime() + PENDING_SECONDS * 1000).toISOString();
    else {
      e.activeAt = now.toISOString();
      e.expiresAt = new Date(now.getTime() + r.durationSeconds * 1000).toISOString();
    }
    elevations.set(e.id, e);
    send(res, 201, e);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const method = req.method ?? '';
    const full = (req.url ?? '').split('?')[0] ?? '';
    const path = prefix && full.startsWith(`${prefix}/`) ? full.slice(prefix.length) : prefix ? '' : full;
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    requests.push({ method, path: req.url ?? '', authorization: req.headers.authorization, headers: req.headers, body, rawBody: raw });

    const i = scripted.findIndex((s) => matches(s.match, method, path));
    if (i >= 0) {
      const [s] = scripted.splice(i, 1);
      if (s!.answer(req, res, raw)) return;
    }
    if (path !== COLLECTION && !path.startsWith(`${COLLECTION}/`)) {
      return status(res, { code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' });
    }
    const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const user = auth ? tokens[auth[1]!] : undefined;
    if (!user) return status(res, { code: 401, reason: 'Unauthorized', message: 'Unauthorized' });
    if (!enabled) return status(res, { code: 404, reason: 'NotFound', message: 'elevation is not configured on this kubegate' });
    const isApprover = approvers.has(user);

    if (path === COLLECTION) {
      if (method === 'POST') return create(user, body, res);
      if (method === 'GET') return send(res, 200, { items: [...elevations.values()].filter((e) => isApprover || e.requester === user) });
      return status(res, { code: 405, reason: 'MethodNotAllowed', message: `${method} is not allowed here` });
    }
    const m = /^\/kubegate\/v1\/elevations\/([^/]+)(?:\/(approve|revoke))?$/.exec(path);
    const found = m ? elevations.get(decodeURIComponent(m[1]!)) : undefined;
    if (!m || !found || (!isApprover && found.requester !== user)) return status(res, { code: 404, reason: 'NotFound', message: 'no such elevation' });
    const verb = m[2];
    if (verb === undefined && method === 'GET') {
      gets++;
      const d = decisions.findIndex((x) => x.n === gets);
      if (d >= 0) {
        const [x] = decisions.splice(d, 1);
        return send(res, 200, decide(found, x!.decision, x!.by));
      }
      return send(res, 200, found);
    }
    if (method !== 'POST' || verb === undefined) return status(res, { code: 405, reason: 'MethodNotAllowed', message: `${method} is not allowed here` });
    if (verb === 'approve') {
      if (!isApprover) return status(res, { code: 403, reason: 'Forbidden', message: `${user} may not approve elevations` });
      if (found.requester === user) return status(res, { code: 403, reason: 'Forbidden', message: 'you cannot approve your own elevation: a second person must' });
      if (found.phase !== 'Pending') return status(res, { code: 409, reason: 'Conflict', message: `elevation ${found.id} is ${found.phase}, not Pending` });
      return send(res, 200, decide(found, 'approve', user));
    }
    if (found.phase !== 'Pending' && found.phase !== 'Active') return status(res, { code: 409, reason: 'Conflict', message: `elevation ${found.id} is already ${found.phase}` });
    return send(res, 200, decide(found, 'revoke', user));
  };

  const server = https.createServer({ cert: options.serving.cert, key: options.serving.key }, (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return status(res, { code: 413, reason: 'RequestEntityTooLarge', message: 'request body too large' });
      handle(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `https://127.0.0.1:${port}${prefix}`,
    port,
    requests,
    elevations,
    apiRequests: () => requests.filter((r) => r.path.split('?')[0]!.slice(prefix.length).startsWith(COLLECTION)),
    seed: (e) => void elevations.set(e.id, e),
    refuseNext: (match, s) => void scripted.push({ match, answer: (_req, res) => (status(res, s), true) }),
    answerNext: (match, answer) => void scripted.push({ match, answer }),
    decideAfterGets: (n, decision, by = 'bob') => void decisions.push({ n: gets + n, decision, by }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
