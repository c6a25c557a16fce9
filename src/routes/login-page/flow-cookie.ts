/**
 * The sign-in flow's state (OAuth `state`, OIDC `nonce`, PKCE `code_verifier`) kept in the browser between
 * the redirect to the identity provider and the callback: an encrypted JWT (JWE `dir` + A256GCM, jose), so
 * it can be neither read nor altered, in an HttpOnly, Secure, SameSite=Lax cookie scoped to the page's
 * paths, expiring with the flow. Nothing is kept server-side; no token ever goes into it.
 */
import { EncryptJWT, jwtDecrypt } from 'jose';

export const FLOW_COOKIE = '__Secure-kubegate-login';
export const FLOW_COOKIE_PATH = '/kubegate/login';
const AUDIENCE = 'kubegate-login-flow';

export interface FlowState {
  state: string;
  nonce: string;
  codeVerifier: string;
}

export type OpenedFlow = { ok: true; flow: FlowState } | { ok: false; reason: 'missing' | 'expired' | 'invalid' };

/** The sealed cookie value, valid for `ttlSeconds` from `nowMs`. */
export async function sealFlow(flow: FlowState, key: Uint8Array, nowMs: number, ttlSeconds: number): Promise<string> {
  const now = Math.floor(nowMs / 1000);
  return new EncryptJWT({ s: flow.state, n: flow.nonce, v: flow.codeVerifier })
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
    .setAudience(AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .encrypt(key);
}

/** Open the flow cookie(s) in a `Cookie` header. Several with our name: the first that opens wins. */
export async function openFlow(cookieHeader: string | undefined, key: Uint8Array, nowMs: number): Promise<OpenedFlow> {
  const values = cookieValues(cookieHeader, FLOW_COOKIE);
  if (values.length === 0) return { ok: false, reason: 'missing' };
  let reason: 'expired' | 'invalid' = 'invalid';
  for (const value of values.slice(0, 4)) {
    try {
      const { payload } = await jwtDecrypt(value, key, {
        audience: AUDIENCE,
        currentDate: new Date(nowMs),
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
        requiredClaims: ['exp'],
      });
      const { s, n, v } = payload;
      if (typeof s === 'string' && typeof n === 'string' && typeof v === 'string') return { ok: true, flow: { state: s, nonce: n, codeVerifier: v } };
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_JWT_EXPIRED') reason = 'expired';
    }
  }
  return { ok: false, reason };
}

/** `Set-Cookie` for a new flow. */
export function flowCookie(value: string, ttlSeconds: number): string {
  return `${FLOW_COOKIE}=${value}; Path=${FLOW_COOKIE_PATH}; Max-Age=${ttlSeconds}; HttpOnly; Secure; SameSite=Lax`;
}

/** `Set-Cookie` that removes the flow cookie (a flow is used once). */
export function clearedFlowCookie(): string {
  return `${FLOW_COOKIE}=; Path=${FLOW_COOKIE_PATH}; Max-Age=0; HttpOnly; Secure; SameSite=Lax`;
}

function cookieValues(header: string | undefined, name: string): string[] {
  if (header === undefined) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) out.push(part.slice(eq + 1).trim());
  }
  return out;
}
