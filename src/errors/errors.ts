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
  // identity policy (403)
  IDENTITY_RESERVED: { status: 403, reason: 'Forbidden', clientMessage: 'the mapped identity uses a reserved system: name' },
  IDENTITY_INVALID: { status: 403, reason: 'Forbidden', clientMessage: 'the mapped identity cannot be sent to the API server' },
  // routing / protocol
  REQUEST_UNSUPPORTED: { status: 400, reason: 'BadRequest', clientMessage: 'unsupported request' },
  REQUEST_MALFORMED: { status: 400, reason: 'BadRequest', clientMessage: 'malformed request' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, reason: 'RequestHeaderFieldsTooLarge', clientMessage: 'request headers too large' },
  UPGRADE_UNSUPPORTED: { status: 400, reason: 'BadRequest', clientMessage: 'only WebSocket and SPDY/3.1 upgrades are supported' },
  // upstream (5xx)
  UPSTREAM_UNREACHABLE: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'the Kubernetes API server is unreachable' },
  UPSTREAM_TIMEOUT: { status: 504, reason: 'Timeout', clientMessage: 'the Kubernetes API server did not answer in time' },
  UPSTREAM_FAILED: { status: 502, reason: 'InternalError', clientMessage: 'the request to the Kubernetes API server failed' },
  UPSTREAM_CREDENTIALS: { status: 503, reason: 'ServiceUnavailable', clientMessage: 'kubegate has no usable credentials for the API server' },
  INTERNAL: { status: 500, reason: 'InternalError', clientMessage: 'internal error' },
  // start-up (never reach a client)
  CONFIG_INVALID: { status: 500, reason: 'InternalError', clientMessage: 'internal error' },
  AUDIT_UNAVAILABLE: { status: 500, reason: 'InternalError', clientMessage: 'internal error' },
  UPSTREAM_CONFIG: { status: 500, reason: 'InternalError', clientMessage: 'internal error' },
} as const satisfies Record<string, { status: number; reason: string; clientMessage: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class KubegateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra, secret-free facts for the log (e.g. which claim failed). */
  readonly details: Readonly<Record<string, string | number | boolean>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, string | number | boolean> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KubegateError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }

  get clientMessage(): string {
    return ERROR_CODES[this.code].clientMessage;
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
    code: err.status,
  };
}
