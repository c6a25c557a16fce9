/**
 * A time limit for one call through @kubernetes/client-node's generated API clients, which set none: the
 * per-call option that aborts the request after `ms`. The Observable class is passed in because callers
 * load the generated clients lazily (they are most of the package's memory).
 */
import type { ConfigurationOptions, Observable, ObservableMiddleware } from '@kubernetes/client-node';

/**
 * @example
 * ```ts
 * const { AuthorizationV1Api, Observable } = await import('@kubernetes/client-node');
 * await kc.makeApiClient(AuthorizationV1Api).createSubjectAccessReview({ body }, timeLimited(Observable, 5000));
 * ```
 */
export function timeLimited(observable: typeof Observable, ms: number): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre: (ctx) => (ctx.setSignal(AbortSignal.timeout(ms)), new observable(Promise.resolve(ctx))),
    post: (res) => new observable(Promise.resolve(res)),
  };
  // The object-parameter API takes client-node's Observable-style middleware here, not the Promise-style one.
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}
