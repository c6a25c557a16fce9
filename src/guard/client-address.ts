/**
 * Who the client is, by address: the socket's peer, unless that peer is a trusted proxy
 * (`security.trustedProxies`), in which case X-Forwarded-For is read from the right, skipping trusted
 * hops; the first untrusted address is the client. Nothing a client writes is believed otherwise.
 */
import { BlockList, isIP } from 'node:net';

export interface TrustedProxies {
  /** Whether `address` is a trusted proxy. */
  trusts(address: string): boolean;
  readonly any: boolean;
}

/** @param cidrs validated by the config schema (`ADDRESS/BITS` or one address). */
export function trustedProxies(cidrs: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address = '', bits] = entry.trim().split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return {
    any: cidrs.length > 0,
    trusts(address) {
      const plain = normalizeAddress(address);
      const family = isIP(plain);
      if (family === 0) return false;
      return list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; other addresses as they are. */
export function normalizeAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/**
 * The client's address for the audit record and the rate limiter.
 * @param socketAddress the TCP peer.
 * @param forwardedFor every X-Forwarded-For value the request carried, in order.
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: readonly string[], trusted: TrustedProxies): string {
  const peer = normalizeAddress(socketAddress ?? 'unknown');
  if (!trusted.any || !trusted.trusts(peer)) return peer;
  const hops = forwardedFor.flatMap((v) => v.split(',')).map((h) => h.trim()).filter(Boolean);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(stripPort(hops[i]!));
    // A hop that is not an address: stop at the last proxy that is known to be telling the truth.
    if (isIP(hop) === 0) return client;
    client = hop;
    if (!trusted.trusts(hop)) return hop;
  }
  return client;
}

/** `[::1]:443` → `::1`, `10.0.0.1:443` → `10.0.0.1`; plain addresses as they are. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1]!;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4 ? v4[1]! : hop;
}

/**
 * The rate limiter's key for an address: IPv6 addresses by their /64 (one host usually holds a whole
 * /64, so per-address keys there would let it rotate through 2^64 fresh buckets).
 */
export function addressKey(address: string): string {
  const plain = normalizeAddress(address);
  if (isIP(plain) !== 6) return plain;
  const groups = expandIpv6(plain);
  return groups === undefined ? plain : `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIpv6(address: string): string[] | undefined {
  const [head = '', tail] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  if (t.some((g) => g.includes('.')) || h.some((g) => g.includes('.'))) return undefined;
  const fill = tail === undefined ? [] : Array<string>(8 - h.length - t.length).fill('0');
  const all = [...h, ...fill, ...t];
  return all.length === 8 ? all.map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')) : undefined;
}
