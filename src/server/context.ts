import type { RequestInfo } from '../audit/request-info.js';
import type { ErrorCode } from '../errors/errors.js';
import type { UserInfo } from '../identity/user.js';

/** Per-request scope, created first and filled in by the stages in order. Plain data. */
export interface RequestContext {
  readonly auditId: string;
  readonly receivedAt: Date;
  readonly clientAddress: string;
  readonly method: string;
  readonly url: string;
  readonly userAgent: string | undefined;
  /** The request parsed like kube-apiserver's RequestInfo (verb, resource, …), once. */
  readonly info: RequestInfo;
  /** The authenticated person (after authn + identity mapping). */
  user?: UserInfo;
  /** What was sent upstream as Impersonate-*. */
  impersonated?: UserInfo;
  /** Client Impersonate-* header names that hygiene removed. */
  strippedImpersonation: string[];
  /** Client requestheader (X-Remote-*) header names that hygiene removed. */
  strippedRequestHeaders: string[];
  errorCode?: ErrorCode;
}
