/**
 * A `fetch` for the identity provider's discovery and JWKS endpoints that trusts a given CA bundle
 * (Node 20's global fetch cannot take one) and caps response bodies at 1 MiB either way. Used through
 * openid-client's `customFetch` hook and by the issuer key set (key-set.ts).
 */
import https from 'node:https';

export type GetFetch = (url: string, options: { headers?: unknown; method?: string; signal?: AbortSignal | null }) => Promise<Response>;

const MAX_BODY_BYTES = 1 << 20; // discovery documents and key sets are small

/** Global fetch when `ca` is undefined; otherwise an https-only fetch verified against `ca`. Bodies are capped. */
export function fetchTrusting(ca: string | undefined): GetFetch {
  if (ca === undefined) return async (url, options) => capBody(await fetch(url, options as RequestInit), new URL(url).origin);
  const agent = new https.Agent({ ca, keepAlive: true, maxSockets: 4 });
  return (url, options) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      if (target.protocol !== 'https:') {
        reject(new TypeError(`refusing to fetch ${target.origin}: https only`));
        return;
      }
      const headers = new Headers(options.headers as HeadersInit | undefined);
      const req = https.request(
        target,
        { method: options.method ?? 'GET', agent, headers: Object.fromEntries(headers), signal: options.signal ?? undefined, timeout: 10_000 },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) req.destroy(new Error(`response from ${target.origin} exceeds ${MAX_BODY_BYTES} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            const responseHeaders = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') responseHeaders.set(k, v);
            resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 502, headers: responseHeaders }));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`request to ${target.origin} timed out`)));
      req.on('error', reject);
      req.end();
    });
}

/** The response with its body read into memory, rejecting once it exceeds MAX_BODY_BYTES. */
async function capBody(res: Response, origin: string): Promise<Response> {
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
      throw new Error(`response from ${origin} exceeds ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return new Response(Buffer.concat(chunks), { status: res.status, statusText: res.statusText, headers: res.headers });
}
