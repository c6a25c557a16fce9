/**
 * The `fetch` openid-client uses for the sign-in page (net/issuer-fetch.ts): discovery, the token endpoint
 * (POST with a form body) and the key set; trusts `ca` when given (else the global fetch, system roots),
 * 10 s per request, answers capped at 1 MiB, a keep-alive pool that `close()` releases.
 */
import { issuerFetch } from '../../net/issuer-fetch.js';

export const pageFetch = (ca: string | undefined) => issuerFetch(ca, { timeoutMs: 10_000, agent: { keepAlive: true, maxSockets: 8 } });
