/**
 * Which protocol kubegate speaks to the API server (`upstream.protocol`): `http1` (a keep-alive
 * connection per request in flight), `http2` (requests and watches multiplexed over a few sessions), or
 * `auto`: HTTP/2 when the API server offers it by ALPN (kube-apiserver does), else HTTP/1.1.
 *
 * `auto` asks once, with a TLS handshake offering `h2` and `http/1.1` (verified like every connection);
 * requests arriving meanwhile wait for the answer. If the API server cannot be reached, requests go over
 * HTTP/1.1 (and fail there as they would) and the question is asked again after {@link RETRY_MS}. If an
 * API server that offered h2 stops offering it (a new HTTP/2 connection's ALPN says so: a load balancer or
 * the API server changed), the requests waiting for that connection fail as before and the next request
 * asks again.
 */
import tls from 'node:tls';
import type { Logger } from 'winston';
import { connectTarget } from '../net/wire.js';
import type { Upstream } from '../upstream/upstream.js';
import { createH1Client } from './h1-client.js';
import type { UpstreamClient } from './upstream-client.js';

export type UpstreamProtocol = 'auto' | 'http1' | 'http2';

const RETRY_MS = 10_000;

export interface SelectDeps {
  upstream: Pick<Upstream, 'target' | 'agent' | 'tlsOptions'>;
  /** The HTTP/2 client, built on first use; it calls `onNoHttp2` when a new connection finds no h2. */
  http2: (onNoHttp2: () => void) => UpstreamClient;
  log?: Pick<Logger, 'info' | 'warn'>;
  /** Test hook: the ALPN question (default: a TLS handshake with the API server). */
  askAlpn?: () => Promise<string | false>;
  /** Test hook: the clock (ms). */
  now?: () => number;
}

export function selectUpstreamClient(protocol: UpstreamProtocol, deps: SelectDeps): UpstreamClient {
  const h1 = createH1Client(deps.upstream);
  if (protocol === 'http1') return h1;
  let h2: UpstreamClient | undefined;
  let chosen: UpstreamClient | undefined;
  let asking: Promise<UpstreamClient> | undefined;
  let retryAt = 0;
  const askAgain = () => {
    if (protocol !== 'auto' || chosen === undefined || chosen !== h2) return;
    chosen = undefined;
    asking = undefined;
    deps.log?.warn('the API server no longer offers HTTP/2; asking again which protocol to speak', { setting: 'upstream.protocol=auto' });
  };
  const http2 = () => (h2 ??= deps.http2(askAgain));
  if (protocol === 'http2') return http2();

  const ask = deps.askAlpn ?? (() => alpnOf(deps.upstream));
  const now = deps.now ?? Date.now;
  const decide = (): Promise<UpstreamClient> =>
    (asking ??= ask().then(
      (alpn) => {
        chosen = alpn === 'h2' ? http2() : h1;
        deps.log?.info(`speaking ${alpn === 'h2' ? 'HTTP/2' : 'HTTP/1.1'} to the API server`, { alpn: alpn || 'none', setting: 'upstream.protocol=auto' });
        return chosen;
      },
      () => {
        // Not reachable now: HTTP/1.1 for these requests (which then fail as they would), ask again later.
        retryAt = now() + RETRY_MS;
        asking = undefined;
        return h1;
      },
    ));
  return {
    request(r) {
      if (chosen !== undefined) return chosen.request(r);
      if (asking === undefined && now() < retryAt) return h1.request(r);
      return decide().then((client) => client.request(r));
    },
    close() {
      h1.close();
      h2?.close();
    },
    destroy() {
      h1.destroy();
      h2?.destroy();
    },
  };
}

/** The protocol the API server picks when offered `h2` and `http/1.1` (false: none). */
function alpnOf(upstream: Pick<Upstream, 'target' | 'tlsOptions'>): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      ...upstream.tlsOptions(),
      ...connectTarget(upstream.target),
      ALPNProtocols: ['h2', 'http/1.1'],
      rejectUnauthorized: true,
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('timed out')));
    socket.once('secureConnect', () => {
      resolve(socket.alpnProtocol ?? false);
      socket.end();
    });
    socket.once('error', reject);
  });
}
