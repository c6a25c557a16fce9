/**
 * Connection limits on the listener, applied to the raw TCP connection before any TLS work:
 * - in total (`security.connections.maxTotal`, Node's `server.maxConnections`: more are dropped);
 * - per peer address (`maxPerAddress`; trusted proxies exempt, since every client behind them shares
 *   their address): the connection over the cap is closed at once.
 * Slow clients are bounded by the request-head and request timeouts (server/server.ts); nothing here
 * limits how long an accepted connection or its response lasts, so watches and exec sessions are safe.
 */
import type { Server } from 'node:net';
import type { Socket } from 'node:net';
import type { TrustedProxies } from './client-address.js';
import { normalizeAddress } from './client-address.js';

export interface ConnectionLimits {
  maxTotal: number;
  maxPerAddress: number;
}

export interface ConnectionGuard {
  /** Open connections now, per address tracked. */
  open(): number;
  trackedAddresses(): number;
}

export function guardConnections(server: Server, limits: ConnectionLimits, trusted: TrustedProxies, onRefused: (reason: 'total' | 'per-address') => void): ConnectionGuard {
  if (limits.maxTotal > 0) server.maxConnections = limits.maxTotal;
  server.on('drop', () => onRefused('total'));
  const perAddress = new Map<string, number>();
  let open = 0;
  // Before TLS's own listener: an over-cap connection costs no handshake.
  server.prependListener('connection', (socket: Socket) => {
    const address = normalizeAddress(socket.remoteAddress ?? 'unknown');
    if (limits.maxPerAddress > 0 && !trusted.trusts(address) && (perAddress.get(address) ?? 0) >= limits.maxPerAddress) {
      onRefused('per-address');
      socket.destroy();
      return;
    }
    open++;
    perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    socket.once('close', () => {
      open--;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
  });
  return { open: () => open, trackedAddresses: () => perAddress.size };
}
