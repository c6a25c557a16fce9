/**
 * The one error type of the client-side login (`kubegate login`, `logout`, `kubeconfig`). Lower-level
 * failures (openid-client, the file system, sockets) are translated once, where the library is called,
 * into a {@link LoginError} with a stable `code`; the original stays as `cause`. `message` is for the
 * person reading stderr: it says what failed and what to do, and never holds a token or a secret.
 */

/** Every code a {@link LoginError} can carry. Callers and tests switch on these, not on message text. */
export const LOGIN_ERROR_CODES = {
  /** No usable token and no way to get one without the person: kubectl ran the plugin without a terminal. */
  LOGIN_REQUIRED: 'sign-in needed, and this run may not interact with the person',
  /** The issuer could not be reached (connection, TLS, timeout, 5xx). */
  ISSUER_UNREACHABLE: 'the identity provider could not be reached',
  /** The issuer's discovery document or an answer does not fit (issuer mismatch, missing endpoint). */
  ISSUER_INVALID: 'the identity provider answered something unusable',
  /** `--grant device` against an issuer that does not advertise the device authorization grant. */
  GRANT_UNSUPPORTED: 'the identity provider does not offer this grant',
  /** The identity provider refused: access_denied, invalid_grant, an expired device code, a bad client. */
  AUTHORIZATION_FAILED: 'the identity provider refused the sign-in',
  /** The ID token failed verification (signature, iss, aud, nonce, exp, auth_time) or is missing. */
  TOKEN_INVALID: 'the ID token did not verify',
  /** Nobody finished the sign-in in time. */
  LOGIN_TIMEOUT: 'the sign-in was not finished in time',
  /** The loopback callback server could not listen (e.g. --listen-port in use). */
  LOOPBACK_FAILED: 'the local callback server could not start',
  /** The token cache directory is unsafe or cannot be written, or its lock could not be taken. */
  CACHE_FAILED: 'the token cache could not be used',
  /** KUBERNETES_EXEC_INFO is not the ExecCredential JSON kubectl sends. */
  EXEC_INFO_INVALID: 'KUBERNETES_EXEC_INFO is not valid',
  /** A kubeconfig to merge into cannot be read or parsed, or the output file exists. */
  KUBECONFIG_INVALID: 'the kubeconfig could not be written',
  /** Interrupted (Ctrl-C) while waiting for the person. */
  INTERRUPTED: 'interrupted',
} as const;

export type LoginErrorCode = keyof typeof LOGIN_ERROR_CODES;

export class LoginError extends Error {
  readonly code: LoginErrorCode;

  constructor(code: LoginErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LoginError';
    this.code = code;
  }
}
