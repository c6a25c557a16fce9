/**
 * The few facts kept about an ID token, and when it stops being worth handing out.
 *
 * Tokens are verified by openid-client when they arrive (signature, iss, aud, nonce, exp); afterwards only
 * their lifetime matters, so a cached token's claims are read with {@link decodeClaims} and never verified
 * again — that is what lets a cache hit contact nothing.
 */

/** A token is handed out only while at least this much of its life is left (less for very short tokens). */
export const EXPIRY_MARGIN_SECONDS = 30;

export interface TokenTimes {
  /** `exp`, epoch seconds. */
  exp: number;
  /** `iat`, epoch seconds. */
  iat: number;
}

/** The payload of a compact JWS, not verified. @returns undefined when it is not a JWT with a JSON object payload. */
export function decodeClaims(jwt: string): Record<string, unknown> | undefined {
  const parts = jwt.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? (payload as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The margin before `exp` at which a token is renewed: {@link EXPIRY_MARGIN_SECONDS}, but at most a quarter
 * of the token's lifetime so that a token living two minutes is still used for most of them.
 */
export function expiryMargin(t: TokenTimes): number {
  return Math.max(0, Math.min(EXPIRY_MARGIN_SECONDS, Math.floor((t.exp - t.iat) / 4)));
}

/** Until when (epoch seconds) the token is handed out: `exp` minus the margin, never later than `exp`. */
export function usableUntil(t: TokenTimes): number {
  return t.exp - expiryMargin(t);
}

/** Whether the token is still worth handing out at `nowMs`. */
export function isUsable(t: TokenTimes, nowMs: number): boolean {
  return nowMs / 1000 < usableUntil(t);
}
