/**
 * The `fetch` for the identity provider's discovery and JWKS endpoints (net/issuer-fetch.ts), used through
 * openid-client's `customFetch` hook and by the issuer key set (key-set.ts): trusts `ca` when given, caps
 * response bodies at 1 MiB, 10 s per request, a small keep-alive pool. Without `ca` redirects are left to
 * the caller (openid-client asks for `manual`; the key set's GET follows them). Failures reject with an
 * IssuerFetchError saying the cause in plain words (net/fetch-error.ts); `describeIssuerError` says the
 * same for an error that openid-client wrapped, and names an issuer mismatch.
 */
import { describeFetchError } from '../net/fetch-error.js';
import { issuerFetch, type IssuerFetch } from '../net/issuer-fetch.js';

export type GetFetch = IssuerFetch;

/** @param caFile the file `ca` was read from, named in certificate errors (optional). */
export const fetchTrusting = (ca: string | undefined, caFile?: string): GetFetch =>
  issuerFetch(ca, { timeoutMs: 10_000, agent: { keepAlive: true, maxSockets: 4 }, callerRedirects: true, describeErrors: { caFile, caFlag: '--oidc-ca-file' } });

/**
 * Why discovery (or a key-set fetch) of `issuerUrl` failed, in plain words: the fetch's own description
 * (connection refused, DNS, timeout, untrusted certificate …), or the configured and discovered issuer side
 * by side when they differ. For the authenticator's log line and `/readyz`.
 */
export function describeIssuerError(err: unknown, issuerUrl: string): string {
  return describeFetchError(err, { url: issuerUrl, issuerFlag: '--oidc-issuer-url' });
}
