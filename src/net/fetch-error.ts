/**
 * Network and TLS failures in plain words: "connection refused by 127.0.0.1:8443", "the host name
 * login.example.com does not resolve", "the TLS certificate of https://… is not trusted by the system roots
 * (UNABLE_TO_VERIFY_LEAF_SIGNATURE); give its CA with --oidc-ca-file", instead of `fetch failed` or
 * `something went wrong`. Works on what Node's fetch (undici: `TypeError('fetch failed')` whose `cause` has
 * the code), node:https (the error itself has the code), openid-client (`ClientError` wrapping either) and
 * AbortSignal.timeout (`TimeoutError`) throw: it walks the `cause` chain for the first code it knows.
 * Pure; imports nothing from the rest of kubegate.
 */
import { X509Certificate } from 'node:crypto';

export interface FetchErrorContext {
  /** What was being fetched (its origin is named in the message). */
  url: string | URL;
  /**
   * The trust used, for certificate errors: `undefined` means the system roots; a string names the CA
   * bundle (e.g. `the CA file /etc/kubegate/idp-ca.crt`).
   */
  trust?: string | undefined;
  /** The flag that sets the CA bundle, suggested on certificate errors (default `--oidc-ca-file`). */
  caFlag?: string | undefined;
  /** The time limit that applied, for timeouts. */
  timeoutMs?: number | undefined;
  /** For an issuer mismatch in discovery: the configured issuer and the flag that sets it. */
  issuerFlag?: string | undefined;
}

/** An issuer fetch that failed, its message already in plain words; `cause` keeps the original error. */
export class IssuerFetchError extends Error {
  /** The underlying code (ECONNREFUSED, ENOTFOUND, UNABLE_TO_VERIFY_LEAF_SIGNATURE, TIMEOUT, …), if known. */
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined, cause: unknown) {
    super(message, { cause });
    this.name = 'IssuerFetchError';
    this.code = code;
  }
}

const CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
]);

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'OAUTH_TIMEOUT', 'TIMEOUT']);

/** The errors of the chain, outermost first (at most 8 deep; cycles stop it). */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = err;
  while (e !== undefined && e !== null && out.length < 8 && !out.includes(e)) {
    out.push(e);
    e = e instanceof Error || (typeof e === 'object' && 'cause' in e) ? (e as { cause?: unknown }).cause : undefined;
  }
  return out;
}

const codeOf = (e: unknown): string | undefined => {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const name = (e as { name?: unknown }).name;
  return name === 'TimeoutError' ? 'TIMEOUT' : undefined;
};

/** The first code in the chain that this module knows how to say in words, else the first code at all. */
export function fetchErrorCode(err: unknown): string | undefined {
  const codes = chain(err).map(codeOf).filter((c): c is string => c !== undefined);
  return codes.find((c) => KNOWN.has(c) || CERT_CODES.has(c) || TIMEOUT_CODES.has(c) || c === ISSUER_MISMATCH) ?? codes[0];
}

const ISSUER_MISMATCH = 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED';
const KNOWN = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'EPROTO', 'ERR_SSL_WRONG_VERSION_NUMBER', 'OAUTH_RESPONSE_IS_NOT_CONFORM']);

/**
 * One sentence saying why a request to `ctx.url` failed and, where there is one, what to do. Never
 * contains a token or credential (only codes, origins, certificate facts and the discovery document's
 * issuer).
 */
export function describeFetchError(err: unknown, ctx: FetchErrorContext): string {
  const errors = chain(err);
  // Already described (IssuerFetchError inside an openid-client ClientError): say it once.
  const described = errors.find((e): e is IssuerFetchError => e instanceof IssuerFetchError);
  if (described) return described.message;
  const url = new URL(String(ctx.url));
  const origin = url.origin;
  const hostPort = url.host || url.hostname;
  const code = fetchErrorCode(err);
  const trust = ctx.trust ?? 'the system roots';
  const caFlag = ctx.caFlag ?? '--oidc-ca-file';
  const seconds = ctx.timeoutMs === undefined ? '' : ` within ${ctx.timeoutMs / 1000} s`;
  if (code === ISSUER_MISMATCH) {
    const mismatch = errors.find((e) => codeOf(e) === ISSUER_MISMATCH) as { cause?: { expected?: unknown; body?: { issuer?: unknown }; attribute?: unknown } };
    const c = mismatch.cause;
    if (c?.attribute === 'issuer') return issuerMismatch(String(c.expected), String(c.body?.issuer), ctx.issuerFlag ?? '--oidc-issuer-url');
  }
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused by ${hostPort} (${origin}): nothing listens there; check the URL and that the server runs`;
    case 'ENOTFOUND':
      return `the host name ${url.hostname} does not resolve (DNS: not found); check the URL's host name`;
    case 'EAI_AGAIN':
      return `the host name ${url.hostname} could not be resolved (DNS did not answer); check the machine's DNS and network`;
    case 'ECONNRESET':
      return `${origin} closed the connection before answering`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${origin} is unreachable from here (${code}): check routes, firewalls and network policies`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the TLS certificate of ${origin} does not name the host ${url.hostname}; use the host name the certificate was issued for`;
    case 'CERT_HAS_EXPIRED':
      return `the TLS certificate of ${origin} has expired`;
    case 'CERT_NOT_YET_VALID':
      return `the TLS certificate of ${origin} is not valid yet (check this machine's clock)`;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return `${origin} did not answer with TLS (${code}); is it plain http, or the wrong port?`;
    case 'OAUTH_RESPONSE_IS_NOT_CONFORM': {
      const res = errors.map((e) => (e as { cause?: unknown }).cause).find((c): c is Response => c instanceof Response);
      return `${url.href} answered ${res ? `HTTP ${res.status}` : 'something that is not a discovery document'}; check the issuer URL (it is the part before /.well-known/openid-configuration)`;
    }
  }
  if (code !== undefined && CERT_CODES.has(code)) {
    return `the TLS certificate of ${origin} is not trusted by ${trust} (${code}); give the CA that signed it with ${caFlag}`;
  }
  if (code !== undefined && TIMEOUT_CODES.has(code)) return `no answer from ${origin}${seconds} (${code === 'TIMEOUT' ? 'timed out' : code})`;
  // Something else: the innermost message that says more than "fetch failed"/"something went wrong".
  const messages = errors.map((e) => (e instanceof Error ? e.message : String(e))).filter((m) => m && !/^(fetch failed|something went wrong)$/.test(m));
  return `request to ${origin} failed: ${messages.at(-1) ?? 'unknown error'}${code ? ` (${code})` : ''}`;
}

/** The configured and the discovered issuer side by side, pointing out a trailing-slash difference. */
export function issuerMismatch(configured: string, discovered: string, flag = '--oidc-issuer-url'): string {
  const slashOnly = configured.replace(/\/+$/, '') === discovered.replace(/\/+$/, '');
  return (
    `the issuer's discovery document names another issuer: ${flag} is ${JSON.stringify(configured)}, the document says ${JSON.stringify(discovered)}` +
    (slashOnly ? ' (they differ only by a trailing slash)' : '') +
    `; set ${flag} to exactly ${JSON.stringify(discovered)}, the tokens' iss`
  );
}

/** "the CA file PATH (CN=…, CN=…)" for a PEM bundle: which CA was trusted, for certificate errors. */
export function describeCaBundle(pem: string, file?: string): string {
  const subjects: string[] = [];
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      const cn = /(?:^|\n)CN=([^\n]*)/.exec(new X509Certificate(block).subject)?.[1];
      subjects.push(cn === undefined ? 'a CA' : `CN=${cn}`);
    } catch {
      subjects.push('an unreadable certificate');
    }
  }
  const list = subjects.length > 3 ? `${subjects.slice(0, 3).join(', ')} and ${subjects.length - 3} more` : subjects.join(', ');
  return `${file === undefined ? 'the CA bundle given' : `the CA file ${file}`}${list ? ` (${list})` : ''}`;
}
