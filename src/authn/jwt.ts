/**
 * The JWT authenticator for one or more issuers (an AuthenticationConfiguration's `jwt[]`; the `--oidc-*`
 * settings are the one-issuer case). A token is routed by its unverified `iss` to exactly one issuer (no
 * key set is tried for a token of another issuer); each issuer has its own discovery, key set
 * (key-set.ts), readiness and retry, so an unreachable issuer delays only its own tokens.
 *
 * Refusals, in order, each with a precise reason in the error message (never the token):
 * - not a compact JWS, payload not JSON, no `iss`, or an `iss` no issuer is configured for: 401 at once,
 *   whatever the state of the issuers (no waiting for keys a token cannot use);
 * - a configured issuer whose keys are not loaded yet: 503 (the client may retry);
 * - signature, `alg`, `kid`, `exp`/`nbf`/`iat`, audience: 401 (`expired at <time>`, `audience <aud> not
 *   accepted`, `unknown key id <kid>`);
 * - claim rules and mappings (identity/structured.ts): 401, or 403 for a reserved `system:` name.
 * Verified identities are cached by a hash of the token (token-cache.ts) until `exp` (at most `cacheMaxSeconds`).
 */
import * as client from 'openid-client';
import * as jose from 'jose';
import type { Logger } from 'winston';
import { KubegateError } from '../errors/errors.js';
import { mapStructuredClaims } from '../identity/structured.js';
import { freezeUser } from '../identity/user.js';
import type { Metrics } from '../metrics/metrics.js';
import type { JwtIssuerSettings } from './auth-config.js';
import type { Authenticated, Authenticator, KeyStatus, SessionFacts } from './authenticator.js';
import { issuerMismatch } from '../net/fetch-error.js';
import { describeIssuerError, fetchTrusting, type GetFetch } from './fetch.js';
import { createIssuerKeySet, type IssuerKeySet } from './key-set.js';
import { createTokenCache, tokenCacheKey } from './token-cache.js';

export interface JwtAuthenticatorOptions {
  log: Logger;
  /** Upper bound on how long a verified token stays cached (default 10 min), so key revocation takes effect. */
  cacheMaxSeconds?: number | undefined;
  cacheMaxEntries?: number | undefined;
  /** Delay between discovery retries while an issuer is unreachable (default 5 s). */
  retrySeconds?: number | undefined;
  jwksMinRefetchIntervalMs?: number | undefined;
  jwksMaxBackoffMs?: number | undefined;
  jwksCacheMaxAgeMs?: number | undefined;
  jwksFetchTimeoutMs?: number | undefined;
  metrics?: Pick<Metrics, 'tokenCache' | 'jwksFetches'> | undefined;
  /** Test hook: the fetch for an issuer's discovery and keys (default: net/issuer-fetch trusting its CA). */
  fetchFor?: ((issuer: JwtIssuerSettings) => GetFetch) | undefined;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** One issuer's discovery and key set, loading in the background. */
interface IssuerState {
  readonly settings: JwtIssuerSettings;
  readonly fetch: GetFetch;
  keySet: IssuerKeySet | undefined;
  discoveryError: string | undefined;
  status(): KeyStatus;
  close(): void;
}

/** The JWT authenticator; `whenAllReady` resolves once every issuer's keys are loaded (for a reload's swap). */
export interface JwtAuthenticator extends Authenticator {
  whenAllReady(): Promise<void>;
}

/** Start every issuer's discovery in the background and return at once. */
export function createJwtAuthenticator(issuers: readonly JwtIssuerSettings[], o: JwtAuthenticatorOptions): JwtAuthenticator {
  if (issuers.length === 0) throw new TypeError('createJwtAuthenticator: at least one issuer is required');
  const { log } = o;
  const cache = createTokenCache<Authenticated>(o.cacheMaxEntries ?? 10_000);
  const cacheMaxMs = (o.cacheMaxSeconds ?? 600) * 1000;
  let markReady!: () => void;
  const readyPromise = new Promise<void>((resolve) => (markReady = resolve));
  const byUrl = new Map<string, IssuerState>();
  const loaded: Promise<void>[] = [];
  for (const settings of issuers) {
    let issuerReady!: () => void;
    loaded.push(new Promise<void>((resolve) => (issuerReady = resolve)));
    byUrl.set(settings.url, startIssuer(settings, o, () => {
      issuerReady();
      markReady();
    }));
  }
  const allReady = Promise.all(loaded).then(() => undefined);

  const verify = async (token: string, state: IssuerState): Promise<jose.JWTPayload> => {
    const s = state.settings;
    const keySet = state.keySet;
    if (keySet === undefined) {
      const why = state.discoveryError ? `: ${state.discoveryError}` : '';
      throw new KubegateError('AUTHN_PROVIDER_UNAVAILABLE', `the keys of issuer ${s.url} are not loaded yet${why}`, { details: { issuer: s.url } });
    }
    try {
      const { payload } = await jose.jwtVerify(token, keySet.getKey, {
        issuer: s.url,
        audience: [...s.audiences],
        algorithms: [...s.signingAlgs],
        clockTolerance: s.clockSkewSeconds,
        requiredClaims: ['exp', 'iss', 'aud'],
      });
      if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + s.clockSkewSeconds) {
        throw new KubegateError('AUTHN_INVALID_TOKEN', `token rejected: issued in the future (iat ${isoTime(payload.iat)})`, { details: { claim: 'iat', issuer: s.url } });
      }
      return payload;
    } catch (err) {
      if (err instanceof KubegateError) throw err;
      throw translateJoseError(err, token, s);
    }
  };

  return {
    async authenticate(token, fingerprint) {
      if (!JWT_SHAPE.test(token)) throw new KubegateError('AUTHN_INVALID_TOKEN', 'bearer token is not a JWT');
      const now = Date.now();
      const key = fingerprint ?? tokenCacheKey(token);
      const cached = cache.get(token, now, key);
      o.metrics?.tokenCache.inc({ result: cached === undefined ? 'miss' : 'hit' });
      if (cached !== undefined) return cached;
      const state = route(token, byUrl);
      const claims = await resolveDistributedGroups(await verify(token, state), state, (t) => verify(t, state));
      const verified: Authenticated = Object.freeze({ user: freezeUser(mapStructuredClaims(claims, state.settings.rules)), session: sessionFacts(claims) });
      cache.set(token, verified, Math.min((claims.exp as number) * 1000, now + cacheMaxMs), key);
      return verified;
    },
    ready: () => [...byUrl.values()].some((s) => s.keySet?.ready() ?? false),
    whenReady: () => readyPromise,
    whenAllReady: () => allReady,
    keyStatus: () => aggregateStatus([...byUrl.values()]),
    close() {
      for (const s of byUrl.values()) s.close();
    },
  };
}

/** The issuer a token names, from its unverified payload; 401 when it names none configured. */
function route(token: string, byUrl: ReadonlyMap<string, IssuerState>): IssuerState {
  let payload: jose.JWTPayload;
  try {
    payload = jose.decodeJwt(token);
  } catch (err) {
    throw new KubegateError('AUTHN_INVALID_TOKEN', `token rejected: ${(err as Error).message}`, { details: { joseCode: (err as { code?: string }).code ?? 'ERR_JWT_INVALID' } });
  }
  if (typeof payload.iss !== 'string' || payload.iss === '') throw new KubegateError('AUTHN_INVALID_TOKEN', 'token rejected: it has no iss claim', { details: { claim: 'iss' } });
  const state = byUrl.get(payload.iss);
  if (state === undefined) {
    const iss = clip(payload.iss);
    throw new KubegateError('AUTHN_INVALID_TOKEN', `token rejected: issuer ${JSON.stringify(iss)} not configured`, { details: { claim: 'iss', iss } });
  }
  return state;
}

function startIssuer(s: JwtIssuerSettings, o: JwtAuthenticatorOptions, markReady: () => void): IssuerState {
  const { log } = o;
  const fetch = o.fetchFor?.(s) ?? fetchTrusting(s.certificateAuthority, s.certificateAuthorityFile);
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const state: IssuerState = {
    settings: s,
    fetch,
    keySet: undefined,
    discoveryError: undefined,
    status: () => state.keySet?.status() ?? { ready: false, stale: false, ...(state.discoveryError !== undefined && { lastError: state.discoveryError }) },
    close() {
      closed = true;
      clearTimeout(retryTimer);
      state.keySet?.close();
    },
  };
  const discover = async (): Promise<void> => {
    try {
      const jwksUri = await discoverJwksUri(s, fetch);
      if (closed) return;
      state.discoveryError = undefined;
      state.keySet = createIssuerKeySet({
        jwksUri,
        issuer: s.url,
        fetch,
        log,
        minRefetchIntervalMs: o.jwksMinRefetchIntervalMs,
        maxBackoffMs: o.jwksMaxBackoffMs,
        cacheMaxAgeMs: o.jwksCacheMaxAgeMs,
        fetchTimeoutMs: o.jwksFetchTimeoutMs,
        onFetch: (ok) => o.metrics?.jwksFetches.inc({ result: ok ? 'ok' : 'error' }),
      });
      void state.keySet.whenReady().then(markReady);
      log.info('oidc discovery done; loading the issuer keys', { issuer: s.url, jwksUri });
    } catch (err) {
      if (closed) return;
      const why = err instanceof DiscoveryDocumentError ? err.message : describeIssuerError(err, s.url);
      state.discoveryError = `discovery failed: ${why}`;
      log.warn('oidc discovery failed; retrying', { issuer: s.url, error: why });
      retryTimer = setTimeout(() => void discover(), (o.retrySeconds ?? 5) * 1000);
      retryTimer.unref();
    }
  };
  void discover();
  return state;
}

/**
 * Distributed claims (OpenID Connect Core 5.6.2) for the groups claim, as kube-apiserver resolves them: only
 * with a `groups.claim` mapping and only when the token lacks that claim but names it in `_claim_names`;
 * the `_claim_sources` endpoint (https) is fetched with its `access_token` as bearer, answers a JWT that must
 * verify like the token itself (kubegate: from the same issuer, with its keys and audiences), and that JWT's
 * groups claim is used. A failure refuses the token (401), as in kube-apiserver.
 */
async function resolveDistributedGroups(claims: jose.JWTPayload, state: IssuerState, verify: (jwt: string) => Promise<jose.JWTPayload>): Promise<jose.JWTPayload> {
  const groups = state.settings.rules.groups;
  if (groups === undefined || !('claim' in groups)) return claims;
  const name = groups.claim;
  const names = claims._claim_names;
  if (name in claims || typeof names !== 'object' || names === null || !(name in names)) return claims;
  const fail = (why: string) => new KubegateError('AUTHN_CLAIMS', `distributed claim ${JSON.stringify(name)}: ${why}`, { details: { claim: name } });
  const source = (names as Record<string, unknown>)[name];
  const sources = claims._claim_sources;
  const ep = typeof source === 'string' && typeof sources === 'object' && sources !== null ? (sources as Record<string, unknown>)[source] : undefined;
  if (typeof ep !== 'object' || ep === null) throw fail(`_claim_sources has no source ${JSON.stringify(String(source))}`);
  const { endpoint, access_token: accessToken } = ep as { endpoint?: unknown; access_token?: unknown };
  if (endpoint === undefined) return claims; // an aggregated claim (a JWT inline): not resolved, as in kube-apiserver
  if (typeof endpoint !== 'string' || !URL.canParse(endpoint) || new URL(endpoint).protocol !== 'https:') throw fail('the endpoint is not an https URL');
  let jwt: string;
  try {
    const res = await state.fetch(endpoint, {
      method: 'GET',
      headers: { accept: 'application/jwt, */*', ...(typeof accessToken === 'string' && accessToken !== '' && { authorization: `Bearer ${accessToken}` }) },
      signal: AbortSignal.timeout(5_000),
    });
    if (res.status < 200 || res.status > 226) throw new Error(`${new URL(endpoint).origin} answered HTTP ${res.status}`);
    jwt = (await res.text()).trim();
  } catch (err) {
    throw fail(`cannot be fetched: ${(err as Error).message}`);
  }
  let resolved: jose.JWTPayload;
  try {
    resolved = await verify(jwt);
  } catch (err) {
    throw fail(`the endpoint's JWT does not verify: ${(err as Error).message}`);
  }
  if (!(name in resolved)) throw fail('the endpoint\'s JWT does not contain it');
  return { ...claims, [name]: resolved[name] };
}

/** The discovery document was fetched but does not fit the configuration: its own message says why. */
class DiscoveryDocumentError extends Error {}

/**
 * Discovery with openid-client at the exact discovery URL (`<url>/.well-known/openid-configuration` or the
 * configured `discoveryURL`, which must have a `/.well-known/` path so openid-client fetches it as given);
 * the document's `issuer` must then equal the configured URL exactly, as kube-apiserver requires.
 */
async function discoverJwksUri(s: JwtIssuerSettings, fetch: GetFetch): Promise<string> {
  const config = await client.discovery(new URL(s.discoveryUrl), s.audiences[0] ?? s.url, undefined, undefined, { [client.customFetch]: fetch, timeout: 10 });
  const metadata = config.serverMetadata();
  if (metadata.issuer !== s.url) throw new DiscoveryDocumentError(issuerMismatch(s.url, metadata.issuer, s.urlSetting));
  if (metadata.jwks_uri === undefined) throw new DiscoveryDocumentError(`the discovery document at ${s.discoveryUrl} has no jwks_uri`);
  return metadata.jwks_uri;
}

/** One issuer: its own status. Several: ready when any is, stale when any is, errors named by issuer. */
function aggregateStatus(states: readonly IssuerState[]): KeyStatus {
  if (states.length === 1) return states[0]!.status();
  const issuers: Record<string, KeyStatus> = {};
  for (const s of states) issuers[s.settings.url] = s.status();
  const all = Object.entries(issuers);
  const errors = all.filter(([, st]) => st.lastError !== undefined).map(([url, st]) => `${url}: ${st.lastError}`);
  const refreshed = all.map(([, st]) => st.lastRefreshAt).filter((t): t is string => t !== undefined).sort();
  return {
    ready: all.some(([, st]) => st.ready),
    stale: all.some(([, st]) => st.stale),
    ...(refreshed.length > 0 && { lastRefreshAt: refreshed[0]! }),
    ...(errors.length > 0 && { lastError: errors.join('; ') }),
    issuers,
  };
}

/** `amr`, `acr`, `auth_time`, `iss`, `iat`, `exp` as given; malformed values count as absent (a policy needing them refuses). */
function sessionFacts(claims: jose.JWTPayload): SessionFacts {
  const facts: SessionFacts = { amr: Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [] };
  const time = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  if (typeof claims.acr === 'string') facts.acr = claims.acr;
  if (time(claims.auth_time) !== undefined) facts.authTime = time(claims.auth_time)!;
  if (typeof claims.iss === 'string') facts.issuer = claims.iss;
  if (time(claims.iat) !== undefined) facts.issuedAt = time(claims.iat)!;
  if (time(claims.exp) !== undefined) facts.expiresAt = time(claims.exp)!;
  return facts;
}

/** jose errors → AUTHN_INVALID_TOKEN with a precise reason (never the token) and the jose code for the log. */
function translateJoseError(err: unknown, token: string, s: JwtIssuerSettings): KubegateError {
  if (err instanceof jose.errors.JOSEError) {
    const details: Record<string, string> = { joseCode: err.code, issuer: s.url };
    if (err instanceof jose.errors.JWKSTimeout || err instanceof jose.errors.JWKSInvalid) {
      return new KubegateError('AUTHN_PROVIDER_UNAVAILABLE', `issuer key set unavailable: ${err.code}`, { cause: err, details });
    }
    let reason = err.message;
    if (err instanceof jose.errors.JWTClaimValidationFailed || err instanceof jose.errors.JWTExpired) {
      details.claim = err.claim;
      details.reason = err.reason;
      const p = err.payload;
      if (err instanceof jose.errors.JWTExpired && typeof p.exp === 'number') reason = `expired at ${isoTime(p.exp)}`;
      else if (err.claim === 'aud') {
        const aud = Array.isArray(p.aud) ? p.aud.map((a) => clip(String(a))).join(', ') : clip(String(p.aud));
        reason = `audience ${JSON.stringify(aud)} not accepted (expected ${s.audiences.join(' or ')})`;
        details.aud = aud;
      } else if (err.claim === 'nbf' && typeof p.nbf === 'number') reason = `not valid before ${isoTime(p.nbf)}`;
    } else if (err instanceof jose.errors.JWKSNoMatchingKey) {
      const kid = headerKid(token);
      reason = `unknown key id ${JSON.stringify(kid ?? '(none)')} for issuer ${s.url}`;
      if (kid !== undefined) details.kid = kid;
    } else if (err instanceof jose.errors.JOSEAlgNotAllowed) {
      reason = `signing algorithm not accepted (expected ${s.signingAlgs.join(', ')})`;
    }
    return new KubegateError('AUTHN_INVALID_TOKEN', `token rejected: ${reason}`, { cause: err, details });
  }
  return new KubegateError('AUTHN_PROVIDER_UNAVAILABLE', 'token verification failed unexpectedly', { cause: err });
}

function headerKid(token: string): string | undefined {
  try {
    const kid = jose.decodeProtectedHeader(token).kid;
    return typeof kid === 'string' ? clip(kid) : undefined;
  } catch {
    return undefined;
  }
}

const isoTime = (seconds: number) => (Number.isFinite(seconds) && Math.abs(seconds) < 8.64e12 ? new Date(seconds * 1000).toISOString() : String(seconds));
/** Untrusted token fields in messages: at most 200 characters. */
const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
