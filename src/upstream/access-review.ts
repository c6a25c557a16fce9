/**
 * SubjectAccessReviews against the API server, made with kubegate's own credential through
 * @kubernetes/client-node, with a small cache: a burst of kubectl calls costs one review per
 * (person, attribute), allowed answers are reused for `allowSeconds`, denials for `denySeconds`.
 * An API server that cannot answer is AUTHORIZATION_UNAVAILABLE (503): never "allowed".
 */
import { createHash } from 'node:crypto';
import type { AuthorizationV1Api, KubeConfig, V1ResourceAttributes } from '@kubernetes/client-node';
import { KubegateError } from '../errors/errors.js';
import type { UserInfo } from '../identity/user.js';
import { timeLimited } from './time-limit.js';

/** What is being asked, as kube-apiserver's authorizer attributes (resource requests only). */
export interface ReviewAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface ReviewDecision {
  allowed: boolean;
  /** The authorizer's reason, when it gave one (for the log). */
  reason?: string;
}

export interface AccessReviewer {
  /** @throws KubegateError AUTHORIZATION_UNAVAILABLE when the API server does not answer the review. */
  review(subject: UserInfo, attributes: ReviewAttributes): Promise<ReviewDecision>;
}

export interface ReviewerSettings {
  /** How long an allowed answer is reused (seconds). */
  allowSeconds: number;
  /** How long a denial is reused (seconds); shorter, so a new RoleBinding takes effect soon. */
  denySeconds: number;
  /** Longest wait for the API server's answer (ms). */
  timeoutMs?: number;
  /** Entries kept at most (oldest evicted first). */
  maxEntries?: number;
  now?: () => number;
  /** Told of every lookup, hit or miss (for metrics). */
  onLookup?: (hit: boolean) => void;
}

/** The review function the reviewer calls; the default asks the API server with client-node. */
export type ReviewCall = (spec: { user: string; groups: string[]; uid?: string; extra?: Record<string, string[]>; resourceAttributes: V1ResourceAttributes }, timeoutMs: number) => Promise<ReviewDecision>;

export function createAccessReviewer(kubeConfig: KubeConfig, s: ReviewerSettings, call: ReviewCall = clientNodeReview(kubeConfig)): AccessReviewer {
  const now = s.now ?? Date.now;
  const maxEntries = s.maxEntries ?? 10_000;
  const cache = new Map<string, { decision: ReviewDecision; until: number }>();
  const inflight = new Map<string, Promise<ReviewDecision>>();
  return {
    async review(subject, a) {
      const key = cacheKey(subject, a);
      const hit = cache.get(key);
      const fresh = hit !== undefined && hit.until > now();
      s.onLookup?.(fresh);
      if (fresh) return hit.decision;
      const pending = inflight.get(key);
      if (pending !== undefined) return pending;
      const resourceAttributes: V1ResourceAttributes = { verb: a.verb, group: a.group, resource: a.resource };
      if (a.subresource !== undefined) resourceAttributes.subresource = a.subresource;
      if (a.namespace !== undefined) resourceAttributes.namespace = a.namespace;
      if (a.name !== undefined) resourceAttributes.name = a.name;
      const spec = {
        user: subject.username,
        groups: [...subject.groups],
        ...(subject.uid !== undefined && { uid: subject.uid }),
        ...(Object.keys(subject.extra).length > 0 && { extra: Object.fromEntries(Object.entries(subject.extra).map(([k, v]) => [k, [...v]])) }),
        resourceAttributes,
      };
      const asked = call(spec, s.timeoutMs ?? 5_000).then(
        (decision) => {
          cache.delete(key);
          while (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
          cache.set(key, { decision, until: now() + (decision.allowed ? s.allowSeconds : s.denySeconds) * 1000 });
          return decision;
        },
        (err: unknown) => {
          throw err instanceof KubegateError
            ? err
            : new KubegateError('AUTHORIZATION_UNAVAILABLE', `SubjectAccessReview failed: ${(err as { code?: unknown }).code ?? (err as Error).message}`, { cause: err });
        },
      );
      inflight.set(key, asked);
      try {
        return await asked;
      } finally {
        inflight.delete(key);
      }
    },
  };
}

/** One SubjectAccessReview through @kubernetes/client-node with kubegate's own credential. */
export function clientNodeReview(kubeConfig: KubeConfig): ReviewCall {
  // The generated API clients (most of client-node's memory) load with the first review: reviews serve
  // only `kubectl --as` requests. A failure to load is that review's AUTHORIZATION_UNAVAILABLE.
  let loaded: Promise<{ api: AuthorizationV1Api; Observable: typeof import('@kubernetes/client-node').Observable }> | undefined;
  return async (spec, timeoutMs) => {
    loaded ??= import('@kubernetes/client-node').then(({ AuthorizationV1Api, Observable }) => ({ api: kubeConfig.makeApiClient(AuthorizationV1Api), Observable }));
    const { api, Observable } = await loaded;
    const review = await api.createSubjectAccessReview(
      { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec } },
      timeLimited(Observable, timeoutMs),
    );
    const status = review.status;
    if (status === undefined) throw new KubegateError('AUTHORIZATION_UNAVAILABLE', 'SubjectAccessReview answered without a status');
    const decision: ReviewDecision = { allowed: status.allowed === true && status.denied !== true };
    if (status.reason) decision.reason = status.reason;
    return decision;
  };
}

/** Who asks (everything the authorizer sees) and what: hashed, so the cache holds no names in its keys. */
function cacheKey(subject: UserInfo, a: ReviewAttributes): string {
  const extra = Object.keys(subject.extra)
    .sort()
    .map((k) => [k, [...subject.extra[k]!]]);
  return createHash('sha256')
    .update(JSON.stringify([subject.username, [...subject.groups].sort(), subject.uid ?? null, extra, a.verb, a.group, a.resource, a.subresource ?? '', a.namespace ?? '', a.name ?? '']))
    .digest('base64');
}
