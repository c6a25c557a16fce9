/**
 * Every way a sign-in can fail, with its HTTP status and what the person reads. One table; the handler
 * leaves by throwing a {@link LoginPageError} and one place renders it (never a stack trace). Tests assert
 * the code, which the page shows ("error code: LOGIN_STATE_MISMATCH") and sends as `kubegate-error`.
 */

export const LOGIN_PAGE_ERRORS = {
  /** The callback came without the flow cookie (another browser, cookies blocked, or already used). */
  LOGIN_FLOW_MISSING: { status: 400, title: 'Sign-in not started here', message: 'This browser has no sign-in in progress (it may have finished already, or cookies are blocked). Start again.' },
  /** The flow cookie is older than `loginPage.flowTimeoutSeconds`. */
  LOGIN_FLOW_EXPIRED: { status: 400, title: 'Sign-in took too long', message: 'The sign-in took longer than allowed. Start again.' },
  /** The flow cookie does not open: sealed by another kubegate with another key (replicas without a shared `loginPage.cookieKeyFile`), or altered. */
  LOGIN_FLOW_INVALID: { status: 400, title: 'Sign-in not recognised', message: 'This browser\'s sign-in could not be read (it may have been started on another kubegate instance). Start again.' },
  /** The callback's `state` is not this browser's sign-in (a forged or crossed response). */
  LOGIN_STATE_MISMATCH: { status: 400, title: 'Sign-in response not recognised', message: 'The answer from the identity provider does not belong to the sign-in this browser started. Start again.' },
  /** The callback has neither `code` nor `error`, or repeats parameters. */
  LOGIN_CALLBACK_INVALID: { status: 400, title: 'Malformed sign-in response', message: 'The answer from the identity provider is malformed. Start again.' },
  /** The person cancelled or the identity provider refused (`error=access_denied`). */
  LOGIN_ACCESS_DENIED: { status: 403, title: 'Sign-in refused', message: 'The identity provider refused the sign-in, or it was cancelled.' },
  /** Any other `error=` from the identity provider. */
  LOGIN_PROVIDER_ERROR: { status: 400, title: 'Sign-in failed at the identity provider', message: 'The identity provider ended the sign-in with an error.' },
  /** The token endpoint refused the code (expired, used twice, wrong client credentials). */
  LOGIN_CODE_REJECTED: { status: 400, title: 'Sign-in could not be completed', message: 'The identity provider did not accept the sign-in code (it may have expired or been used already). Start again.' },
  /** The token endpoint refused kubegate's own client credentials (`invalid_client`): a configuration problem. */
  LOGIN_CLIENT_REJECTED: { status: 502, title: 'kubegate is not accepted by the identity provider', message: 'The identity provider refused kubegate\'s client credentials. Ask the cluster administrators to check kubegate\'s sign-in page settings.' },
  /** The ID token failed verification (signature, iss, aud, nonce, expiry). */
  LOGIN_ID_TOKEN_INVALID: { status: 502, title: 'Identity provider answer not trusted', message: 'The identity provider returned an ID token that did not verify. Ask the cluster administrators to check kubegate\'s log.' },
  /** Discovery or the token endpoint cannot be reached. */
  LOGIN_PROVIDER_UNAVAILABLE: { status: 503, title: 'Identity provider unavailable', message: 'kubegate cannot reach the identity provider right now. Try again in a minute.' },
  /** The token is fine but kubegate would refuse it (missing claims, reserved names, required claims). */
  LOGIN_IDENTITY_REFUSED: { status: 403, title: 'kubegate would refuse this identity', message: 'You signed in, but kubegate would not accept your identity provider\'s token for the Kubernetes API.' },
  LOGIN_NOT_FOUND: { status: 404, title: 'Not found', message: 'There is no page here.' },
  LOGIN_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed', message: 'Only GET is supported here.' },
  LOGIN_INTERNAL: { status: 500, title: 'Internal error', message: 'Something went wrong in kubegate. Ask the cluster administrators to check kubegate\'s log.' },
} as const satisfies Record<string, { status: number; title: string; message: string }>;

export type LoginPageErrorCode = keyof typeof LOGIN_PAGE_ERRORS;

export class LoginPageError extends Error {
  readonly code: LoginPageErrorCode;
  readonly status: number;
  /** A more precise line for the person (their own sign-in: which claim is missing, the IdP's description). */
  readonly detail: string | undefined;

  /**
   * @param message for the log (never a token or secret)
   * @param options.detail shown on the page below the code's fixed message, escaped
   */
  constructor(code: LoginPageErrorCode, message: string, options: { cause?: unknown; detail?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LoginPageError';
    this.code = code;
    this.status = LOGIN_PAGE_ERRORS[code].status;
    this.detail = options.detail;
  }
}
