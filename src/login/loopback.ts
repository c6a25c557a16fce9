/**
 * The loopback redirect of the authorization code flow (RFC 8252 §7.3): an HTTP server on 127.0.0.1 that
 * waits for `GET /callback?code=…&state=…`. The redirect URI is exactly `http://127.0.0.1:<port>/callback`.
 *
 * Only a callback carrying the expected `state` is taken; anything else gets an error page and the wait
 * goes on (a stray or forged request cannot end the sign-in). The browser's page is answered once the
 * caller knows the outcome, so the person sees whether the sign-in worked.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LoginError } from './errors.js';

export interface Callback {
  /** The full callback URL, as openid-client wants it. */
  url: URL;
  /** Answer the browser with a small page; call once. */
  respond(ok: boolean, message: string): void;
}

export interface Loopback {
  redirectUri: string;
  /**
   * The callback with `state`.
   * @throws LoginError LOGIN_TIMEOUT after `timeoutMs`; INTERRUPTED when `signal` aborts.
   */
  waitForCallback(opts: { state: string; timeoutMs: number; signal?: AbortSignal | undefined }): Promise<Callback>;
  close(): Promise<void>;
}

/**
 * Listen on 127.0.0.1:`port` (0: any free port).
 * @throws LoginError LOOPBACK_FAILED when the port is taken or cannot be bound.
 */
export async function startLoopback(port: number): Promise<Loopback> {
  let onCallback: ((req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void) | undefined;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    if (url.pathname !== '/callback') return page(res, 404, 'Not found', 'kubegate is waiting for the sign-in callback at /callback.');
    if (req.method !== 'GET') return page(res, 405, 'Method not allowed', 'The sign-in callback must be a GET.');
    if (!onCallback) return page(res, 409, 'Sign-in already handled', 'This sign-in has already been handled; you can close this tab.');
    onCallback(req, res, url);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new LoginError('LOOPBACK_FAILED', err.code === 'EADDRINUSE'
        ? `port ${port} on 127.0.0.1 is in use: choose another --listen-port, or 0 for any free port`
        : `cannot listen on 127.0.0.1:${port}: ${err.message}`, { cause: err })));
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;

  return {
    redirectUri: `http://127.0.0.1:${actual}/callback`,
    waitForCallback({ state, timeoutMs, signal }) {
      return new Promise<Callback>((resolve, reject) => {
        const timer = setTimeout(() => finish(new LoginError('LOGIN_TIMEOUT', `the sign-in was not finished within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
        const onAbort = () => finish(new LoginError('INTERRUPTED', 'interrupted while waiting for the sign-in in the browser'));
        signal?.addEventListener('abort', onAbort, { once: true });
        function finish(err: Error | undefined, value?: Callback) {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          onCallback = undefined;
          if (err) reject(err);
          else resolve(value!);
        }
        if (signal?.aborted) return onAbort();
        onCallback = (_req, res, url) => {
          if (url.searchParams.get('state') !== state) {
            page(res, 400, 'Sign-in not recognised', 'This is not the sign-in kubegate is waiting for (its state does not match). Start again from the terminal.');
            return;
          }
          let answered = false;
          finish(undefined, {
            url,
            respond(ok, message) {
              if (answered) return;
              answered = true;
              page(res, ok ? 200 : 400, ok ? 'Signed in' : 'Sign-in failed', message);
            },
          });
        };
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function page(res: http.ServerResponse, status: number, title: string, message: string): void {
  const body = `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>kubegate: ${escapeHtml(title)}</title></head>\n<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>\n`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'content-security-policy': "default-src 'none'",
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    connection: 'close',
  });
  res.end(body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
