import type { AuditDecision, CapturedBody } from './audit-types.js';
import type { RequestInfo } from './request-info.js';
import type { ErrorCode } from '../errors/errors.js';
import type { SessionFacts, UserInfo } from '../identity/user.js';

/** Per-request scope, created first and filled in by the stages in order. Plain data. */
export interface RequestContext {
  readonly auditId: string;
  readonly receivedAt: Date;
  /**
   * The client's address: the socket's peer, or, when that peer is one of `security.trustedProxies`, the
   * rightmost untrusted X-Forwarded-For hop (guard/client-address.ts). Audit `sourceIPs`, the failure
   * limiter's key and the X-Forwarded-For sent upstream.
   */
  readonly clientAddress: string;
  readonly method: string;
  readonly url: string;
  readonly userAgent: string | undefined;
  /** The request parsed like kube-apiserver's RequestInfo (verb, resource, …), once. */
  readonly info: RequestInfo;
  /** The authenticated person (after authn + identity mapping). */
  user?: UserInfo;
  /** How the person logged in (amr, acr, auth_time), for elevation policies. */
  session?: SessionFacts;
  /** Break-glass grants in force for this request (their groups were added). */
  elevations?: { id: string; reason: string }[];
  /** What was sent upstream as Impersonate-*. */
  impersonated?: UserInfo;
  /** Client Impersonate-* header names that hygiene removed. */
  strippedImpersonation: string[];
  /** Client requestheader (X-Remote-*) header names that hygiene removed. */
  strippedRequestHeaders: string[];
  errorCode?: ErrorCode;
}

/**
 * How a request ended, decided by its {@link Exchange} and written once to the audit record.
 * - `refused`: kubegate answered with an error status (see the context's errorCode);
 * - `completed`: the response (or upgraded session) ran to its end;
 * - `client-gone`: the client closed the connection before the response was complete;
 * - `upstream-failed`: the API server connection failed after the response had started;
 * - `timed-out`: a time limit ended the response after it had started;
 * - `shutdown`: kubegate ended a long-running response or session because it was shutting down;
 * - `revoked`: kubegate ended a long-running response or session because the person's access was revoked.
 */
export type OutcomeKind = 'refused' | 'completed' | 'client-gone' | 'upstream-failed' | 'timed-out' | 'shutdown' | 'revoked';

/** The facts the audit record is built from, fixed when the exchange ends. */
export interface Outcome {
  kind: OutcomeKind;
  /** The status line kubegate wrote to the client; undefined when none was written. */
  statusSent: number | undefined;
  /** Whether the request was handed to the API server. */
  forwarded: boolean;
  /** Extra annotations a stage attached (e.g. upgrade byte counts). */
  annotations: Readonly<Record<string, string>>;
  /** How the audit policy treats the request (absent when the exchange has no audit hooks). */
  audit?: AuditDecision;
  /** Bodies captured for the Request and RequestResponse levels. */
  requestBody?: CapturedBody;
  responseBody?: CapturedBody;
}
