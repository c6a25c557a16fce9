/**
 * The serving certificate: loaded at start-up (TLS ≥ 1.2), and reloaded when either file changes
 * without dropping connections (`server.setSecureContext`). A half-written pair is ignored until both
 * files match again. Reads config `server.tlsCertFile` and `server.tlsPrivateKeyFile`.
 */
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'winston';
import { KubegateError } from '../errors/errors.js';

export const TLS_MIN_VERSION = 'TLSv1.2';

export interface ServingCert {
  cert: Buffer;
  key: Buffer;
}

/** @throws KubegateError CONFIG_INVALID when the files cannot be read or do not form a pair. */
export function loadServingCert(certFile: string, keyFile: string): ServingCert {
  let pair: ServingCert;
  try {
    pair = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
    tls.createSecureContext({ ...pair, minVersion: TLS_MIN_VERSION });
  } catch (err) {
    throw new KubegateError('CONFIG_INVALID', `serving certificate ${certFile} / key ${keyFile} unusable: ${(err as Error).message}`, { cause: err });
  }
  return pair;
}

/** Poll both files (this survives Kubernetes' symlink-swapping secret volumes) and apply a new valid pair. */
export function watchServingCert(server: tls.Server, certFile: string, keyFile: string, log: Logger, intervalMs = 1000): () => void {
  const reload = () => {
    try {
      const pair = loadServingCert(certFile, keyFile);
      server.setSecureContext({ ...pair, minVersion: TLS_MIN_VERSION });
      log.info('serving certificate reloaded', { certFile });
    } catch (err) {
      log.warn('serving certificate changed but is not usable yet; keeping the previous one', { error: (err as Error).message });
    }
  };
  watchFile(certFile, { interval: intervalMs, persistent: false }, reload);
  watchFile(keyFile, { interval: intervalMs, persistent: false }, reload);
  return () => {
    unwatchFile(certFile, reload);
    unwatchFile(keyFile, reload);
  };
}

/**
 * A client that speaks plain HTTP to the TLS port (`http://` in a kubeconfig) gets an HTTP 400 saying so,
 * as kube-apiserver answers ("Client sent an HTTP request to an HTTPS server."), instead of a dropped
 * connection. OpenSSL recognises a plain request line as the first record (ERR_SSL_HTTP_REQUEST); only
 * then is the answer written in clear on the TCP connection under the failed TLS socket. The TLS path
 * itself is untouched: this runs on a failed handshake only. Any other handshake failure is dropped.
 */
export function answerPlainHttp(err: NodeJS.ErrnoException, tlsSocket: tls.TLSSocket, answer: (raw: Duplex) => void): void {
  // Node keeps the TCP socket a TLS socket wraps as `_parent` (not public API; a test pins it).
  const raw = (tlsSocket as unknown as { _parent?: unknown })._parent;
  if (err.code === 'ERR_SSL_HTTP_REQUEST' && raw instanceof Socket && raw.writable) return answer(raw);
  tlsSocket.destroy();
}
