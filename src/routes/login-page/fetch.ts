/**
 * The `fetch` openid-client uses for the sign-in page: discovery, the token endpoint (POST with a form body)
 * and the key set, trusting a given CA bundle (Node 20's global fetch cannot take one), https only, with a
 * timeout and response bodies capped at 1 MiB. authn/fetch.ts does the same for GETs only.
 */
import https from 'node:https';

export type PageFetch = ((url: string, options: { method?: string; headers?: unknown; body?: unknown; signal?: AbortSignal | null }) => Promise<Response>) & {
  close(): void;
};

const MAX_BODY_BYTES = 1 << 20;
const TIMEOUT_MS = 10_000;

/** @param ca PEM bundle; undefined: the system roots (through the global fetch). */
export function pageFetch(ca: string | undefined): PageFetch {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 8, ...(ca === undefined ? {} : { ca }) });
  const f = (url: string, options: { method?: string; headers?: unknown; body?: unknown; signal?: AbortSignal | null }) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      if (target.protocol !== 'https:') {
        reject(new TypeError(`refusing to fetch ${target.origin}: https only`));
        return;
      }
      let body: Buffer | undefined;
      try {
        body = requestBody(options.body);
      } catch (err) {
        reject(err);
        return;
      }
      const headers = Object.fromEntries(new Headers(options.headers as HeadersInit | undefined));
      if (body !== undefined) headers['content-length'] = String(body.length);
      const req = https.request(
        target,
        { method: options.method ?? 'GET', agent, headers, signal: options.signal ?? undefined, timeout: TIMEOUT_MS },
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
            for (const [k, v] of Object.entries(res.headers)) {
              if (typeof v === 'string') responseHeaders.set(k, v);
              else if (Array.isArray(v)) for (const item of v) responseHeaders.append(k, item);
            }
            const status = res.statusCode ?? 502;
            // A Response cannot carry a body with 204/304.
            resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`request to ${target.origin} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  return Object.assign(f, { close: () => agent.destroy() });
}

function requestBody(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof URLSearchParams) return Buffer.from(body.toString(), 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new TypeError('unsupported request body type');
}
