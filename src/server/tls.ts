/**
 * The serving certificate: loaded at start-up (TLS ≥ 1.2), and reloaded when either file changes
 * without dropping connections (`server.setSecureContext`). A half-written pair is ignored until both
 * files match again. Reads config `server.tlsCertFile` and `server.tlsPrivateKeyFile`.
 */
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
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
