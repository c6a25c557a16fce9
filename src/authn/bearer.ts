/**
 * Where the client's token is: the single `Authorization: Bearer` header or, on a WebSocket upgrade from a
 * client that cannot set headers (browsers), the `base64url.bearer.authorization.k8s.io.<token>`
 * subprotocol. kube-apiserver reads that subprotocol only on WebSocket upgrades, and so does kubegate: on
 * any other request it is not a credential. Hygiene removes both from every request before forwarding.
 */
import type { IncomingMessage } from 'node:http';
import { KubegateError } from '../errors/errors.js';

export const WEBSOCKET_TOKEN_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

export interface BearerOptions {
  /**
   * Whether the request is a WebSocket upgrade kubegate will relay (`Upgrade: websocket`, classified by
   * the upgrade path). Only then is the token subprotocol read.
   */
  websocket: boolean;
}

/**
 * The client's bearer token.
 *
 * @example
 * const token = bearerToken(req, { websocket: upgrade === 'websocket' });
 * @throws KubegateError AUTHN_MISSING_TOKEN / AUTHN_MALFORMED_HEADER (401).
 * @throws TypeError when `websocket` is not given (a caller's mistake).
 */
export function bearerToken(req: Pick<IncomingMessage, 'headers' | 'rawHeaders'>, opts: BearerOptions): string {
  if (typeof opts?.websocket !== 'boolean') throw new TypeError('bearerToken: options.websocket (boolean) is required');
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'authorization') count++;
  if (count > 1) throw new KubegateError('AUTHN_MALFORMED_HEADER', 'more than one Authorization header');
  if (count === 1) {
    const match = /^Bearer +([^ ]+) *$/i.exec(req.headers.authorization ?? '');
    if (!match) throw new KubegateError('AUTHN_MALFORMED_HEADER', 'Authorization header is not a bearer token');
    return match[1]!;
  }
  if (!opts.websocket) throw new KubegateError('AUTHN_MISSING_TOKEN', 'no Authorization header');
  return subprotocolToken(req.headers['sec-websocket-protocol']);
}

function subprotocolToken(header: string | undefined): string {
  const protocols = (header ?? '').split(',').map((p) => p.trim());
  const carriers = protocols.filter((p) => p.startsWith(WEBSOCKET_TOKEN_PROTOCOL_PREFIX));
  if (carriers.length > 1) throw new KubegateError('AUTHN_MALFORMED_HEADER', 'more than one bearer token subprotocol');
  if (carriers.length === 0) throw new KubegateError('AUTHN_MISSING_TOKEN', 'no Authorization header or bearer token subprotocol');
  const token = Buffer.from(carriers[0]!.slice(WEBSOCKET_TOKEN_PROTOCOL_PREFIX.length), 'base64url').toString('utf8');
  if (!token) throw new KubegateError('AUTHN_MALFORMED_HEADER', 'empty bearer token subprotocol');
  return token;
}
