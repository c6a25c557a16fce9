/**
 * The kubegate API client's error (cli/kubegate-api.ts), in a module of its own so a command can test for
 * it without loading the client and @kubernetes/client-node (about 0.85 s) before its flags are parsed.
 */

export type KubegateApiErrorCode =
  /** The kubeconfig cannot be loaded or selects an unusable cluster (e.g. insecure-skip-tls-verify). */
  | 'KUBECONFIG_INVALID'
  /** The kubeconfig user's credential (exec plugin, token file, cert file) could not be produced. */
  | 'CREDENTIAL_FAILED'
  /** kubegate answered with a Kubernetes `Status` failure: `status`, `reason` and its message are set. */
  | 'API_REFUSED'
  /** 404 on the collection itself: this kubegate has no elevation API (or the URL is not a kubegate). */
  | 'API_NOT_CONFIGURED'
  /** No connection or TLS handshake (includes a server certificate that does not verify). */
  | 'API_UNREACHABLE'
  /** No complete answer before the deadline. */
  | 'API_TIMEOUT'
  /** An answer that is neither the expected JSON nor a `Status`, or larger than MAX_RESPONSE_BYTES. */
  | 'API_BAD_RESPONSE';

/** The one error type of this client. `message` is meant for the person and never holds a credential. */
export class KubegateApiError extends Error {
  readonly code: KubegateApiErrorCode;
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** `Status.reason` (e.g. `Forbidden`), when the server sent a Status. */
  readonly reason: string | undefined;
  /** The URL asked, when a request was made. */
  readonly url: string | undefined;

  constructor(code: KubegateApiErrorCode, message: string, options: { cause?: unknown; status?: number; reason?: string; url?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KubegateApiError';
    this.code = code;
    this.status = options.status;
    this.reason = options.reason;
    this.url = options.url;
  }

  /** True for failures worth retrying while polling: no connection, no answer in time, or a 5xx. */
  get transient(): boolean {
    return this.code === 'API_UNREACHABLE' || this.code === 'API_TIMEOUT' || (this.status !== undefined && this.status >= 500);
  }
}
