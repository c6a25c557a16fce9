/**
 * The `fetch` that talks to an OIDC issuer (through openid-client's `customFetch` hook, and directly for
 * key sets) for the server's authenticator, the sign-in page and `kubegate login`: Node's global fetch when
 * no CA bundle is given (system roots, NODE_EXTRA_CA_CERTS), else an https-only client that trusts exactly
 * that bundle (Node 20's global fetch cannot take one). Every request has a time limit and every answer is
 * capped at 1 MiB. The CA path never follows redirects. Imports nothing from the rest of kubegate.
 */
import https from 'node:https';
import { describeCaBundle, describeFetchError, fetchErrorCode, IssuerFetchError } from './fetch-error.js';

export interface IssuerRequest {
  method?: string | undefined;
  /** A plain object or a Headers instance (jose and openid-client may pass either). */
  headers?: HeadersInit | undefined;
  /** string, URLSearchParams, Uint8Array or ArrayBuffer. */
  body?: unknown;
  signal?: AbortSignal | null | undefined;
}

export type IssuerFetch = (url: string, options: IssuerRequest) => Promise<Response>;

export interface IssuerFetchOptions {
  /** Per request: the global fetch's deadline, the CA path's socket idle timeout (default 30 s). */
  timeoutMs?: number | undefined;
  /** Connection pooling on the CA path (default: none, one connection per request). */
  agent?: Omit<https.AgentOptions, 'ca'> | undefined;
  /** Global fetch only: redirects as the caller's `redirect` says (default: never followed, as on the CA path). */
  callerRedirects?: boolean | undefined;
  /**
   * Reject with an {@link IssuerFetchError} whose message says the cause in plain words (connection refused,
   * DNS, timeout, an untrusted certificate naming the CA used) instead of `fetch failed`. `caFile` names
   * the bundle's file and `caFlag` the flag to suggest on certificate errors (default `--oidc-ca-file`).
   */
  describeErrors?: { caFile?: string | undefined; caFlag?: string | undefined } | undefined;
}

const MAX_BODY_BYTES = 1 << 20; // discovery documents, key sets and token answers are small

/** @param ca PEM bundle to trust; undefined: the global fetch. `close()` releases the CA path's connections. */
export function issuerFetch(ca: string | undefined, o: IssuerFetchOptions = {}): IssuerFetch & { close(): void } {
  const timeoutMs = o.timeoutMs ?? 30_000;
  if (o.describeErrors !== undefined) {
    const inner = issuerFetch(ca, { ...o, describeErrors: undefined });
    const trust = ca === undefined ? undefined : describeCaBundle(ca, o.describeErrors.caFile);
    const caFlag = o.describeErrors.caFlag;
    const described: IssuerFetch = (url, options) =>
      inner(url, options).catch((err: unknown) => {
        throw new IssuerFetchError(describeFetchError(err, { url, trust, caFlag, timeoutMs }), fetchErrorCode(err), err);
      });
    return Object.assign(described, { close: () => inner.close() });
  }
  if (ca === undefined) {
    const viaGlobal: IssuerFetch = async (url, options) => {
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])]);
      const res = await fetch(url, { ...(options as RequestInit), ...(o.callerRedirects ? {} : { redirect: 'manual' }), signal });
      return capped(res, new URL(url).origin);
    };
    return Object.assign(viaGlobal, { close: () => {} });
  }
  const agent = new https.Agent({ ...o.agent, ca });
  const viaCa: IssuerFetch = (url, options) =>
    new Promise<Response>((resolve, reject) => {
      // A throw in here (plain http, an unsupported body) rejects the promise.
      const target = new URL(url);
      if (target.protocol !== 'https:') throw new TypeError(`refusing to contact ${target.origin}: the issuer must use https`);
      const body = bodyBytes(options.body);
      const headers = Object.fromEntries(new Headers(options.headers));
      if (body !== undefined) headers['content-length'] = String(body.length);
      const req = https.request(target, { method: options.method ?? 'GET', agent, headers, signal: options.signal ?? undefined, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) req.destroy(tooLarge(target.origin));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [k, v] of Object.entries(res.headers)) for (const item of [v ?? []].flat()) responseHeaders.append(k, item);
          const status = res.statusCode ?? 502;
          // A Response cannot carry a body with 204/304.
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer from ${target.origin} within ${timeoutMs / 1000} s`)));
      req.on('error', reject);
      req.end(body);
    });
  return Object.assign(viaCa, { close: () => agent.destroy() });
}

function bodyBytes(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  throw new TypeError('unsupported request body for the issuer');
}

const tooLarge = (origin: string) => new Error(`the answer from ${origin} exceeds ${MAX_BODY_BYTES} bytes`);

/** The global fetch's answer with its body read into memory, rejecting once it exceeds MAX_BODY_BYTES. */
async function capped(res: Response, origin: string): Promise<Response> {
  if (res.body === null) return res;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge(origin);
    }
    chunks.push(value);
  }
  return new Response(Buffer.concat(chunks), { status: res.status, statusText: res.statusText, headers: res.headers });
}
