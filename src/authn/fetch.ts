/**
 * The `fetch` for the identity provider's discovery and JWKS endpoints (net/issuer-fetch.ts), used through
 * openid-client's `customFetch` hook and by the issuer key set (key-set.ts): trusts `ca` when given, caps
 * response bodies at 1 MiB, 10 s per request, a small keep-alive pool. Without `ca` redirects are left to
 * the caller (openid-client asks for `manual`; the key set's GET follows them).
 */
import { issuerFetch, type IssuerFetch } from '../net/issuer-fetch.js';

export type GetFetch = IssuerFetch;

export const fetchTrusting = (ca: string | undefined): GetFetch =>
  issuerFetch(ca, { timeoutMs: 10_000, agent: { keepAlive: true, maxSockets: 4 }, callerRedirects: true });
