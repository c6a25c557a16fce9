/**
 * One error type for the whole request path. Every stage leaves by throwing a {@link KubegateError};
 * one place (server/respond.ts) turns it into a Kubernetes `Status` body and an audit record.
 *
 * `message` is for the log and the audit record (never a token or secret); the client only ever sees the
 * fixed `clientMessage` of its code, so the precise reason of an authentication failure never leaks.
 */

/** Every error code kubegate raises, with its HTTP status, Kubernetes `Status.reason` and client message. */
export const ERROR_CODES = {
  // authentication (401): the client sees one generic message whatever the cause
  AUTHN_MISSING_TOKEN: { status: 401, reason: 'Unauthorized', clientMessage: 'Unauthorized' },
  AUTHN_MALFORMED_HEADER: { status: 401, reason: 'Unauthorized', clientMessage: 'Unauthorized' },
  AUTHN_INVALID_TOKEN: { status: 401, reason: 'Unauthorized', clientMessage: 'Unauthorized' },
  AUTHN_CLAIMS: { status: 401, reason: 'Unauthorized', clientMessage: 'Unauthorized' },
  AUTHN_PROVIDER_UNAVAILABLE: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'the identity provider is unavailable' },
  // token policies (src/guard/token-policy.ts): the client may know which rule its token breaks
  AUTHN_SERVICE_ACCOUNT_TOKEN: {
    status: 401,
    reason: 'Unauthorized',
    clientMessage: 'kubegate does not accept Kubernetes service-account tokens: sign in with your identity provider (kubegate login)',
  },
  AUTHN_TOKEN_LIFETIME: { status: 401, reason: 'Unauthorized', clientMessage: 'the token\'s lifetime (exp - iat) exceeds what kubegate accepts: get a shorter-lived token from your identity provider' },
  AUTHN_THROTTLED: { status: 429, reason: 'TooManyRequests', clientMessage: 'too many failed authentication attempts from this client or with this token; retry later' },
  MFA_REQUIRED: { status: 403, reason: 'Forbidden', clientMessage: 'kubegate requires a login with multi-factor authentication: sign in again with MFA (kubegate login --force)' },
  // identity policy (403)
  IDENTITY_RESERVED: { status: 403, reason: 'Forbidden', clientMessage: 'the mapped identity uses a reserved system: name' },
  IDENTITY_INVALID: { status: 403, reason: 'Forbidden', clientMessage: 'the mapped identity cannot be sent to the API server' },
  // routing / protocol
  REQUEST_UNSUPPORTED: { status: 400, reason: 'BadRequest', clientMessage: 'unsupported request' },
  REQUEST_MALFORMED: { status: 400, reason: 'BadRequest', clientMessage: 'malformed request' },
  REQUEST_PLAIN_HTTP: { status: 400, reason: 'BadRequest', clientMessage: 'Client sent an HTTP request to an HTTPS server.' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, reason: 'RequestHeaderFieldsTooLarge', clientMessage: 'request headers too large' },
  UPGRADE_UNSUPPORTED: { status: 400, reason: 'BadRequest', clientMessage: 'only WebSocket and SPDY/3.1 upgrades are supported' },
  // client impersonation (kubectl --as), checked by SubjectAccessReview
  IMPERSONATION_INVALID: { status: 400, reason: 'BadRequest', clientMessage: 'invalid impersonation request' },
  IMPERSONATION_DENIED: { status: 403, reason: 'Forbidden', clientMessage: 'impersonation refused' },
  IMPERSONATION_DISABLED: { status: 403, reason: 'Forbidden', clientMessage: 'client impersonation is disabled on this kubegate (--allow-client-impersonation=false)' },
  AUTHORIZATION_UNAVAILABLE: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'kubegate cannot check the request with the API server\'s authorizer' },
  // break-glass elevation (kubegate's own API, /kubegate/v1/elevations)
  ELEVATION_INVALID: { status: 400, reason: 'BadRequest', clientMessage: 'invalid elevation request' },
  ELEVATION_NOT_ELIGIBLE: { status: 403, reason: 'Forbidden', clientMessage: 'elevation refused' },
  ELEVATION_MFA_REQUIRED: { status: 403, reason: 'Forbidden', clientMessage: 'elevation needs a login with multi-factor authentication' },
  ELEVATION_LOGIN_TOO_OLD: { status: 403, reason: 'Forbidden', clientMessage: 'elevation needs a fresh login: run your login again with a fresh MFA prompt' },
  ELEVATION_NOT_FOUND: { status: 404, reason: 'NotFound', clientMessage: 'no such elevation' },
  ELEVATION_CONFLICT: { status: 409, reason: 'Conflict', clientMessage: 'the elevation was changed concurrently; retry' },
  ELEVATION_STATE: { status: 409, reason: 'Conflict', clientMessage: 'the elevation is not in a state that allows this' },
  ELEVATION_DISABLED: { status: 404, reason: 'NotFound', clientMessage: 'elevation is not configured on this kubegate' },
  ELEVATION_STORE_UNAVAILABLE: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'the elevation store is unavailable' },
  // revocation (kubegate's own API /kubegate/v1/revocations, and every request of a revoked person)
  AUTHN_REVOKED: { status: 401, reason: 'Unauthorized', clientMessage: 'your access was revoked' },
  REVOCATION_INVALID: { status: 400, reason: 'BadRequest', clientMessage: 'invalid revocation request' },
  REVOCATION_FORBIDDEN: { status: 403, reason: 'Forbidden', clientMessage: 'only a revocation administrator may do this' },
  REVOCATION_NOT_FOUND: { status: 404, reason: 'NotFound', clientMessage: 'no such revocation' },
  REVOCATION_CONFLICT: { status: 409, reason: 'Conflict', clientMessage: 'the revocation already exists' },
  REVOCATION_DISABLED: { status: 404, reason: 'NotFound', clientMessage: 'revocation is not configured on this kubegate' },
  REVOCATION_STORE_UNAVAILABLE: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'the revocation store is unavailable' },
  REQUEST_BODY_INVALID: { status: 400, reason: 'BadRequest', clientMessage: 'the request body is not valid' },
  // upstream (5xx)
  UPSTREAM_UNREACHABLE: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'the Kubernetes API server is unreachable' },
  UPSTREAM_TIMEOUT: { status: 504, reason: 'Timeout', clientMessage: 'the Kubernetes API server did not answer in time' },
  // The API server provably did not process the request (HTTP/2 GOAWAY above its stream, REFUSED_STREAM) and
  // it could not be sent again (a body, a non-idempotent method, already retried): raise with retryAfterSeconds 1.
  UPSTREAM_RETRY: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'the Kubernetes API server did not process the request; retry it' },
  UPSTREAM_FAILED: { status: 502, reason: 'InternalError', clientMessage: 'the request to the Kubernetes API server failed' },
  UPSTREAM_CREDENTIALS: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'kubegate has no usable credentials for the API server' },
  // audit (--audit-fail-closed): the trail cannot be written, so nothing is served unrecorded
  AUDIT_FAILING: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'kubegate cannot write its audit trail; try again later' },
  INTERNAL: { status: 500, reason: 'InternalError', clientMessage: 'internal error' },
  // start-up (never reach a client)
  CONFIG_INVALID: { status: 500, reason: 'InternalError', clientMessage: 'internal error' },
  AUDIT_UNAVAILABLE: { status: 500, reason: 'InternalError', clientMessage: 'internal error' },
  UPSTREAM_CONFIG: { status: 500, reason: 'InternalError', clientMessage: 'internal error' },
  LISTEN_FAILED: { status: 500, reason: 'InternalError', clientMessage: 'internal error' },
} as const satisfies Record<string, { status: number; reason: string; clientMessage: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class KubegateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra, secret-free facts for the log (e.g. which claim failed). */
  readonly details: Readonly<Record<string, string | number | boolean>>;
  /** A more precise message for the client (only for refusals whose reason the client may know). */
  private readonly clientDetail: string | undefined;
  /** For 429 (and 503 UPSTREAM_RETRY): seconds the client should wait (`Retry-After`, `Status.details.retryAfterSeconds`). */
  readonly retryAfterSeconds: number | undefined;

  /**
   * @param options.clientMessage what the client sees instead of the code's fixed message: e.g. which
   *   impersonated attribute was refused. Never for authentication failures (401): those stay generic;
   *   except AUTHN_REVOKED, which is said only after the token verified (it tells the person, not a
   *   prober, when and why their access was revoked).
   * @throws TypeError when `clientMessage` is given for another 401 code (a caller's mistake).
   */
  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, string | number | boolean>; clientMessage?: string; retryAfterSeconds?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KubegateError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = Object.freeze({ ...(options.details ?? {}) });
    if (options.clientMessage !== undefined && this.status === 401 && code !== 'AUTHN_REVOKED') throw new TypeError(`${code}: authentication failures never carry a client message`);
    this.clientDetail = options.clientMessage;
    this.retryAfterSeconds = options.retryAfterSeconds === undefined ? undefined : Math.max(1, Math.ceil(options.retryAfterSeconds));
  }

  get clientMessage(): string {
    return this.clientDetail ?? ERROR_CODES[this.code].clientMessage;
  }
  get reason(): string {
    return ERROR_CODES[this.code].reason;
  }
}

/** Any thrown value as a KubegateError; unknown errors become INTERNAL with the original as `cause`. */
export function asKubegateError(err: unknown): KubegateError {
  if (err instanceof KubegateError) return err;
  return new KubegateError('INTERNAL', 'unexpected error', { cause: err });
}

/** The Kubernetes `Status` object (meta/v1) kubectl decodes for every error kubegate returns. */
export interface KubernetesStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  /** kube-apiserver's StatusDetails; kubegate sets only retryAfterSeconds (429, and 503 UPSTREAM_RETRY). */
  details?: { retryAfterSeconds: number };
  code: number;
}

export function statusBody(err: KubegateError): KubernetesStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: err.clientMessage,
    reason: err.reason,
    ...(err.retryAfterSeconds !== undefined && { details: { retryAfterSeconds: err.retryAfterSeconds } }),
    code: err.status,
  };
}
