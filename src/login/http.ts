/**
 * The `fetch` openid-client uses to talk to the issuer (discovery, JWKS, token and device endpoints):
 * Node's global fetch when no CA file is given (system roots, NODE_EXTRA_CA_CERTS), else an https-only
 * client that trusts exactly that CA bundle (Node 20's global fetch cannot take one). Every request has a
 * deadline and answers are capped at 1 MiB. Redirects are not followed (openid-client asks for `manual`).
 */
import https from 'node:https';

export type IssuerFetch = (url: string, options: { method?: string; headers?: Record<string, string>; body?: unknown; signal?: AbortSignal | null | undefined }) => Promise<Response>;

const MAX_BODY_BYTES = 1 << 20;
export const ISSUER_REQUEST_TIMEOUT_MS = 30_000;

/** A fetch trusting `ca` (PEM) when given, else the global fetch; both bounded in time and size. */
export function issuerFetch(ca: string | undefined): IssuerFetch {
  if (ca === undefined) {
    return async (url, options) => {
      const signal = AbortSignal.any([AbortSignal.timeout(ISSUER_REQUEST_TIMEOUT_MS), ...(options.signal ? [options.signal] : [])]);
      const res = await fetch(url, { ...(options as RequestInit), redirect: 'manual', signal });
      return capped(res);
    };
  }
  const agent = new https.Agent({ ca, keepAlive: false });
  return (url, options) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      if (target.protocol !== 'https:') {
        reject(new TypeError(`refusing to contact ${target.origin}: the issuer must use https`));
        return;
      }
      const body = bodyBytes(options.body);
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (body !== undefined) headers['content-length'] = String(body.length);
      const req = https.request(
        target,
        { method: options.method ?? 'GET', agent, headers, signal: options.signal ?? undefined, timeout: ISSUER_REQUEST_TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) req.destroy(new Error(`the answer from ${target.origin} exceeds ${MAX_BODY_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            const responseHeaders = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (typeof v === 'string') responseHeaders.set(k, v);
              else if (Array.isArray(v)) for (const item of v) responseHeaders.append(k, item);
            }
            const status = res.statusCode ?? 502;
            const nullBody = status === 204 || status === 304;
            resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${target.origin} within ${ISSUER_REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      req.end(body);
    });
}

function bodyBytes(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  throw new TypeError('unsupported request body for the issuer');
}

async function capped(res: Response): Promise<Response> {
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
      throw new Error(`the answer from ${new URL(res.url).origin} exceeds ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return new Response(Buffer.concat(chunks), { status: res.status, statusText: res.statusText, headers: res.headers });
}
