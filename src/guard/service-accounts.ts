/**
 * `security.serviceAccountPassthrough` (off by default): a Kubernetes service-account token is checked by
 * the API server itself (a TokenReview made with kubegate's own credential) and, when the API server
 * says it is a live service account, the request is forwarded impersonating that service account.
 *
 * - Only service-account identities pass (`system:serviceaccount:<ns>:<name>`): a TokenReview that
 *   authenticates anything else (a node, a static token) is refused.
 * - Groups: only the `system:serviceaccounts…` ones the review returned (kube-apiserver adds
 *   `system:authenticated` to impersonated users itself). No extra (pod name, credential id): impersonating
 *   them would need RBAC on those userextras keys.
 * - Authenticated answers are cached briefly (`cacheSeconds`, never past the token's `exp`), keyed by a
 *   hash of the token; refusals are not cached (the failure limiter bounds retries).
 * - Once the API server vouched for the token, its `iat`/`exp` are read for the token policies.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { decodeJwt } from 'jose';
import type { Authenticated } from '../authn/authenticator.js';
import { tokenCacheKey } from '../authn/token-cache.js';
import { KubegateError } from '../errors/errors.js';
import { freezeUser } from '../identity/user.js';
import { timeLimited } from '../upstream/time-limit.js';

export interface TokenReviewResult {
  authenticated: boolean;
  user?: { username?: string; uid?: string; groups?: string[] };
  error?: string;
}

/** One TokenReview; the default asks the API server through @kubernetes/client-node. */
export type TokenReviewCall = (token: string, timeoutMs: number) => Promise<TokenReviewResult>;

export interface ServiceAccountReviewer {
  /** @throws KubegateError AUTHN_INVALID_TOKEN (401) when refused, UPSTREAM_UNREACHABLE (503) when the API server does not answer. */
  /** `fingerprint`: the token's hash when the caller has it (the auth guard's, computed once per request). */
  authenticate(token: string, fingerprint?: string): Promise<Authenticated>;
}

const SA_USER = /^system:serviceaccount:[^:]+:[^:]+$/;

export function createServiceAccountReviewer(call: TokenReviewCall, s: { cacheSeconds: number; maxEntries?: number; now?: () => number; timeoutMs?: number }): ServiceAccountReviewer {
  const now = s.now ?? Date.now;
  const maxEntries = s.maxEntries ?? 10_000;
  const cache = new Map<string, { value: Authenticated; until: number }>();
  return {
    async authenticate(token, fingerprint) {
      const key = fingerprint ?? tokenCacheKey(token);
      const hit = cache.get(key);
      if (hit !== undefined && hit.until > now()) return hit.value;
      cache.delete(key);
      let result: TokenReviewResult;
      try {
        result = await call(token, s.timeoutMs ?? 5_000);
      } catch (err) {
        throw new KubegateError('UPSTREAM_UNREACHABLE', `TokenReview failed: ${(err as { code?: unknown }).code ?? (err as Error).message}`, { cause: err });
      }
      const username = result.user?.username ?? '';
      if (!result.authenticated) throw new KubegateError('AUTHN_INVALID_TOKEN', `service-account token rejected by the API server's TokenReview${result.error ? `: ${result.error}` : ''}`);
      if (!SA_USER.test(username)) throw new KubegateError('AUTHN_INVALID_TOKEN', 'the TokenReview authenticated an identity that is not a service account; only service accounts pass through', { details: { kind: username.split(':').slice(0, 2).join(':') } });
      let claims: { iat?: unknown; exp?: unknown; iss?: unknown } = {};
      try {
        claims = decodeJwt(token);
      } catch {
        // The API server accepted it: a token kubegate cannot decode simply has no iat/exp for the policies.
      }
      const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
      const iat = num(claims.iat);
      const exp = num(claims.exp);
      const value: Authenticated = Object.freeze({
        user: freezeUser({
          username,
          ...(result.user?.uid && { uid: result.user.uid }),
          groups: (result.user?.groups ?? []).filter((g) => g === 'system:serviceaccounts' || g.startsWith('system:serviceaccounts:')),
          extra: {},
        }),
        session: { amr: [], ...(typeof claims.iss === 'string' && { issuer: claims.iss }), ...(iat !== undefined && { issuedAt: iat }), ...(exp !== undefined && { expiresAt: exp }) },
      });
      const until = Math.min(now() + s.cacheSeconds * 1000, exp === undefined ? Infinity : exp * 1000);
      while (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
      if (until > now()) cache.set(key, { value, until });
      return value;
    },
  };
}

/** TokenReviews through @kubernetes/client-node with kubegate's own credential. */
export function clientNodeTokenReview(kubeConfig: KubeConfig): TokenReviewCall {
  // The generated API clients (most of client-node's memory) load only when passthrough is configured:
  // the import starts now, at start-up, and the first review waits for it.
  const loaded = import('@kubernetes/client-node').then(({ AuthenticationV1Api, Observable }) => ({ api: kubeConfig.makeApiClient(AuthenticationV1Api), Observable }));
  loaded.catch(() => {}); // a failure is the first review's error
  return async (token, timeoutMs) => {
    const { api, Observable } = await loaded;
    const review = await api.createTokenReview(
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } },
      timeLimited(Observable, timeoutMs),
    );
    const status = review.status ?? {};
    return {
      authenticated: status.authenticated === true,
      ...(status.user && { user: { ...(status.user.username && { username: status.user.username }), ...(status.user.uid && { uid: status.user.uid }), ...(status.user.groups && { groups: status.user.groups }) } }),
      ...(status.error && { error: status.error }),
    };
  };
}
