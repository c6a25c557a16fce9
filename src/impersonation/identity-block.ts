/**
 * The `Impersonate-*` header block of a shared identity, built once. A verified-token cache entry's
 * UserInfo is deep-frozen (identity/user.ts `freezeUser`) and returned for every request with that token,
 * so its headers (the escaped extra keys, the validated values) are computed the first time and kept as
 * long as the UserInfo object lives (a WeakMap: the block goes with its cache entry). An unfrozen UserInfo
 * (an identity changed by elevation grants or `kubectl --as`, made for one request) is built every time
 * and never remembered.
 *
 * A refusal (IDENTITY_INVALID) is not remembered either: the identity stays refused on every request.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { UserInfo } from '../identity/user.js';

/** Header name → value(s); frozen, arrays too. Copied into each request's headers, never changed. */
export type IdentityBlock = Readonly<Record<string, string | readonly string[]>>;

const blocks = new WeakMap<UserInfo, IdentityBlock>();

/** `build(user)`'s headers, remembered per frozen `user`. */
export function identityBlock(user: UserInfo, build: (user: UserInfo) => OutgoingHttpHeaders): IdentityBlock {
  if (!Object.isFrozen(user)) return build(user) as IdentityBlock;
  let block = blocks.get(user);
  if (block === undefined) {
    const headers = build(user);
    for (const value of Object.values(headers)) if (Array.isArray(value)) Object.freeze(value);
    block = Object.freeze(headers) as IdentityBlock;
    blocks.set(user, block);
  }
  return block;
}

/** Remembered blocks are not enumerable (WeakMap); tests ask whether one exists. */
export function hasIdentityBlock(user: UserInfo): boolean {
  return blocks.has(user);
}
