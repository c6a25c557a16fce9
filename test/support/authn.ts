/**
 * The real OIDC authenticator (src/authn/oidc.ts) pointed at a {@link JwksIssuer}, with its operational log
 * captured as parsed lines so a test can count warnings, plus helpers for the key-set tests.
 */
import type { Authenticator } from '../../src/authn/authenticator.js';
import { createOidcAuthenticator, type OidcSettings } from '../../src/authn/oidc.js';
import type { JwksIssuer } from './jwks-issuer.js';
import { captureLogger, type LogLine } from './logs.js';

export type { LogLine } from './logs.js';

/** An authenticator for `issuer` (usernames from `email`), closed by the test's teardown. Not awaited ready. */
export function authenticatorFor(
  t: { teardown(fn: () => unknown): void },
  issuer: JwksIssuer,
  settings: Partial<OidcSettings> = {},
): { authn: Authenticator; logs: LogLine[] } {
  const { log, lines } = captureLogger();
  const authn = createOidcAuthenticator(
    {
      issuerUrl: issuer.issuer,
      clientId: issuer.clientId,
      ca: issuer.ca,
      signingAlgs: ['RS256'],
      requiredClaims: {},
      clockSkewSeconds: 10,
      retrySeconds: 0.05,
      usernameClaim: 'email',
      groupsPrefix: '',
      extraClaims: {},
      allowSystemNames: false,
      ...settings,
    },
    log,
  );
  t.teardown(() => authn.close());
  return { authn, logs: lines };
}

/**
 * The most JWKS fetches the key-set policy allows within `elapsedMs` of failing: the first failed fetch
 * at time 0, then each next start at least min(minInterval·2ⁿ, maxBackoff) after the n-th failure ended.
 */
export function maxFetchesWhileFailing(elapsedMs: number, minIntervalMs: number, maxBackoffMs: number): number {
  let fetches = 1;
  let at = 0;
  for (let n = 1; ; n++) {
    at += Math.min(minIntervalMs * 2 ** n, Math.max(maxBackoffMs, minIntervalMs));
    if (at > elapsedMs) return fetches;
    fetches++;
  }
}

/** The outcome of authenticate as data: the username, or the error's code and details. */
export async function outcome(authn: Authenticator, token: string): Promise<{ user?: string; code?: string; details?: Record<string, unknown> }> {
  try {
    return { user: (await authn.authenticate(token)).user.username };
  } catch (err) {
    const e = err as { code?: string; details?: Record<string, unknown> };
    return { code: e.code ?? String(err), details: e.details ?? {} };
  }
}
