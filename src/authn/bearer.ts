/**
 * Where the client's token is: the single `Authorization: Bearer` header or, for WebSocket upgrades from
 * clients that cannot set headers (browsers), the `base64url.bearer.authorization.k8s.io.<token>`
 * subprotocol kube-apiserver also accepts. hygiene removes both before forwarding.
 */
import type { IncomingMessage } from 'node:http';
import { KubegateError } from '../errors/errors.js';

export const WEBSOCKET_TOKEN_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

/** @throws KubegateError AUTHN_MISSING_TOKEN / AUTHN_MALFORMED_HEADER (401). */
export function bearerToken(req: IncomingMessage): string {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'authorization') count++;
  if (count > 1) throw new KubegateError('AUTHN_MALFORMED_HEADER', 'more than one Authorization header');
  if (count === 1) {
    const match = /^Bearer +([^ ]+) *$/i.exec(req.headers.authorization ?? '');
    if (!match) throw new KubegateError('AUTHN_MALFORMED_HEADER', 'Authorization header is not a bearer token');
    return match[1]!;
  }
  const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const carriers = protocols.filter((p) => p.startsWith(WEBSOCKET_TOKEN_PROTOCOL_PREFIX));
  if (carriers.length > 1) throw new KubegateError('AUTHN_MALFORMED_HEADER', 'more than one bearer token subprotocol');
  if (carriers.length === 1) {
    const token = Buffer.from(carriers[0]!.slice(WEBSOCKET_TOKEN_PROTOCOL_PREFIX.length), 'base64url').toString('utf8');
    if (token) return token;
    throw new KubegateError('AUTHN_MALFORMED_HEADER', 'empty bearer token subprotocol');
  }
  throw new KubegateError('AUTHN_MISSING_TOKEN', 'no Authorization header');
}
