/**
 * Helpers for the sign-in page's tests: a small https server on 127.0.0.1 that serves the page handler (the
 * handler is not wired into kubegate's listener yet; once it is, tests can point at kubegate instead), an
 * https client that trusts the test CA, and a scripted person signing in at the test issuer through
 * oidc-provider's dev interaction pages (login form → consent form, or `[ Cancel ]` → access_denied).
 */
import { request, createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestPki } from '../support/pki.js';
import type { OidcSection } from '../../src/authn/auth-config.js';
import { loadIssuers } from '../../src/authn/configured.js';
import { mapStructuredClaims, type Claims } from '../../src/identity/structured.js';
import type { UserInfo } from '../../src/identity/user.js';

/** The `oidc:` claim settings a page test maps with. */
export type OidcMapping = Omit<OidcSection, 'clientId' | 'requiredClaims'>;

/**
 * Claims → the user, as kubegate maps them for an `oidc:` configuration with these claim settings: the
 * issuer `loadIssuers` resolves, its rules applied by `mapStructuredClaims` (what server.ts gives the page).
 */
export function oidcClaimMapper(m: OidcMapping, allowSystemNames = false): (claims: Claims) => UserInfo {
  const [issuer] = loadIssuers({ oidc: { ...m, clientId: 'kubernetes', requiredClaims: {}, signingAlgs: ['RS256'], clockSkewSeconds: 10 }, authentication: {}, identity: { allowSystemNames } });
  return (claims) => mapStructuredClaims(claims, issuer!.rules);
}

export interface PageServer {
  /** https://127.0.0.1:PORT */
  url: string;
  serve(handler: { handles(url: string): boolean; handle(req: IncomingMessage, res: ServerResponse): Promise<void> }): void;
  close(): Promise<void>;
}

/** An https listener on 127.0.0.1 answering the sign-in page's paths (everything else: 418, to notice). */
export async function startPageServer(pki: TestPki): Promise<PageServer> {
  const tls = pki.server('login-page');
  let handler: Parameters<PageServer['serve']>[0] | undefined;
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    if (handler?.handles(req.url ?? '/')) void handler.handle(req, res);
    else {
      res.writeHead(418, { 'content-type': 'text/plain' });
      res.end('not the sign-in page\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    serve: (h) => void (handler = h),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** One https request trusting `ca`; no redirects followed. */
export function fetchText(url: string, opts: { ca: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', ca: opts.ca, agent: false, headers: opts.headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** `name=value` of a Set-Cookie header (attributes dropped). */
export function cookiePair(setCookie: string): string {
  return setCookie.split(';')[0]!.trim();
}

/**
 * A person signing in at the test issuer: opens `authorizationUrl`, fills oidc-provider's dev login form
 * with `login` (any password), accepts the consent form, and returns the first redirect that leaves the
 * issuer (the page's callback URL with `code` or `error`). `cancel`: follows `[ Cancel ]` on the login page.
 */
export async function signInAtIssuer(authorizationUrl: string, opts: { ca: string; login: string; cancel?: boolean }): Promise<URL> {
  const origin = new URL(authorizationUrl).origin;
  const jar = new Map<string, string>();
  let url = new URL(authorizationUrl);
  let method = 'GET';
  let body: string | undefined;
  for (let step = 0; step < 15; step++) {
    if (url.origin !== origin) return url;
    const headers: Record<string, string> = {};
    if (jar.size > 0) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const answer = await fetchText(url.href, { ca: opts.ca, method, headers, ...(body === undefined ? {} : { body }) });
    for (const c of ([] as string[]).concat(answer.headers['set-cookie'] ?? [])) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const expired = attrs.some((a) => /^\s*(max-age=0|expires=thu, 01 jan 1970)/i.test(a));
      if (expired) jar.delete(name);
      else jar.set(name, pair!.slice(eq + 1).trim());
    }
    method = 'GET';
    body = undefined;
    if (answer.status >= 300 && answer.status < 400 && answer.headers.location) {
      url = new URL(answer.headers.location, url);
      continue;
    }
    const action = /<form[^>]*action="([^"]+)"/.exec(answer.body)?.[1]?.replace(/&amp;/g, '&');
    if (answer.status === 200 && /name="prompt" value="login"/.test(answer.body) && action) {
      if (opts.cancel) {
        const abort = /<a href="([^"]+)">\[ Cancel \]<\/a>/.exec(answer.body)?.[1];
        if (!abort) throw new Error('no [ Cancel ] link on the login page');
        url = new URL(abort.replace(/&amp;/g, '&'), url);
        continue;
      }
      url = new URL(action, url);
      method = 'POST';
      body = new URLSearchParams({ prompt: 'login', login: opts.login, password: 'any' }).toString();
      continue;
    }
    if (answer.status === 200 && /name="prompt" value="consent"/.test(answer.body) && action) {
      url = new URL(action, url);
      method = 'POST';
      body = new URLSearchParams({ prompt: 'consent' }).toString();
      continue;
    }
    throw new Error(`sign-in stopped at ${url.href}: HTTP ${answer.status} ${answer.body.slice(0, 300)}`);
  }
  throw new Error('sign-in did not finish within 15 steps');
}
