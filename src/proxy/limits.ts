/**
 * Which requests are long-running, recognised the way kube-apiserver does
 * (verbs watch and proxy; subresources attach, exec, log, portforward, proxy), and the time limits
 * that apply to each kind. Reads config `proxy.*`.
 */
import type { RequestInfo } from '../request/request-info.js';

const LONG_RUNNING_VERBS = new Set(['watch', 'proxy']);
const LONG_RUNNING_SUBRESOURCES = new Set(['attach', 'exec', 'log', 'portforward', 'proxy']);

export function isLongRunning(info: RequestInfo): boolean {
  return LONG_RUNNING_VERBS.has(info.verb) || (info.isResourceRequest && LONG_RUNNING_SUBRESOURCES.has(info.subresource ?? ''));
}

export interface Limits {
  /** Watch, logs -f, exec, port-forward…: ended after a short grace period when kubegate shuts down. */
  longRunning: boolean;
  /** Close after this long without bytes (ms); 0: never. */
  idleMs: number;
  /** Close after this long in total (ms); 0: never. */
  maxMs: number;
}

export interface LimitSettings {
  requestTimeoutSeconds: number;
  longRunningIdleTimeoutSeconds: number;
  longRunningMaxSeconds: number;
}

export function limitsFor(longRunning: boolean, s: LimitSettings): Limits {
  return longRunning
    ? { longRunning, idleMs: s.longRunningIdleTimeoutSeconds * 1000, maxMs: s.longRunningMaxSeconds * 1000 }
    : { longRunning, idleMs: s.requestTimeoutSeconds * 1000, maxMs: 0 };
}
