/**
 * Facts about header names that both configuration validation and header hygiene rely on (ground floor:
 * config/ may not import impersonation/).
 */

/** Headers that frame the body: a `Connection:` listing must not drop them (the request would lose its body). */
export const FRAMING: ReadonlySet<string> = new Set(['host', 'content-length', 'transfer-encoding']);

export const IMPERSONATE_PREFIX = 'impersonate-';

/** RFC 9110 token: what a header name may be made of. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Headers a requestheader name must not cover: kubegate sets them itself (the API server would read
 * kubegate's own value as an identity) or needs them to frame and route the request.
 */
const KUBEGATE_NEEDED: readonly string[] = ['authorization', 'audit-id', 'x-forwarded-for', 'connection', 'upgrade', ...FRAMING];

/**
 * Why a name cannot be configured as a requestheader header (or, with `prefix`, as an extra-headers
 * prefix), or undefined when it can. For config validation of `impersonation.requestHeader`.
 */
export function requestHeaderNameProblem(name: string, kind: 'header' | 'prefix'): string | undefined {
  if (!HTTP_TOKEN.test(name)) return `must be an HTTP header name (letters, digits and !#$%&'*+-.^_\`|~), got ${JSON.stringify(name)}`;
  const lower = name.toLowerCase();
  const covered = KUBEGATE_NEEDED.filter((needed) => (kind === 'prefix' ? needed.startsWith(lower) : needed === lower));
  if (lower.startsWith(IMPERSONATE_PREFIX) || (kind === 'prefix' && IMPERSONATE_PREFIX.startsWith(lower))) covered.push('impersonate-*');
  if (covered.length === 0) return undefined;
  return `${JSON.stringify(name)} would ${kind === 'prefix' ? 'cover' : 'be'} ${covered.join(', ')}, which kubegate sets itself or must forward`;
}
