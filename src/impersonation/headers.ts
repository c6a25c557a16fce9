/**
 * Header hygiene and the one place that sets outgoing identity headers.
 *
 * `outgoingHeaders` copies the client's headers minus everything a client must never control
 * (credentials, identity headers, forwarding and hop-by-hop headers, and any header the client names in
 * its `Connection:` header), then sets kubegate's own credential and identity headers last, so nothing
 * the client sent can remove or override them.
 *
 * A client identity header is one of two kinds, decided in one place ({@link identityHeaderKind}):
 * - `impersonation`: any `Impersonate-*` header;
 * - `requestHeader`: kube-apiserver's front-proxy ("requestheader") headers, `X-Remote-User`,
 *   `X-Remote-Uid`, `X-Remote-Group` and `X-Remote-Extra-*`, always, plus the names and prefixes configured
 *   in `impersonation.requestHeader`. The API server believes these from a caller with a front-proxy client
 *   certificate: should kubegate's own certificate be one, a client's `X-Remote-User` would pick the user.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { KubegateError } from '../errors/errors.js';
import { FRAMING, HTTP_TOKEN, IMPERSONATE_PREFIX } from '../net/header-names.js';
import { CONNECTION_SPECIFIC } from '../net/wire.js';
import type { UserInfo } from '../identity/user.js';
import { identityBlock } from './identity-block.js';
import { WEBSOCKET_TOKEN_PROTOCOL_PREFIX } from '../authn/bearer.js';

/** Client headers that never pass, whatever their case. */
const ALWAYS_STRIPPED = new Set([
  'authorization',
  'proxy-authorization',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
  'audit-id',
  // Node has already answered `100 Continue`; forwarded, it would also make http-proxy skip its proxyReq
  // event, which is where a client disconnect ends the upstream request.
  'expect',
  // hop-by-hop (RFC 9110 §7.6.1): they describe the client's connection, not the request
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  // Framing and routing of the client's hop: the upstream client frames the body again (Content-Length
  // stays and is enforced; a body without one is sent chunked on HTTP/1.1, as DATA frames on HTTP/2) and
  // names the API server itself (Host, :authority).
  'transfer-encoding',
  'host',
]);


/** The conventional requestheader names (kubeadm's front-proxy settings): stripped whatever is configured. */
const DEFAULT_REQUEST_HEADERS: readonly string[] = ['x-remote-user', 'x-remote-uid', 'x-remote-group'];
const DEFAULT_REQUEST_HEADER_PREFIXES: readonly string[] = ['x-remote-extra-'];


/**
 * Requestheader names a cluster's front proxy uses beyond the `X-Remote-*` defaults: the config section
 * `impersonation.requestHeader`, mirroring kube-apiserver's `--requestheader-*` flags. Any case.
 */
export interface RequestHeaderNames {
  usernameHeaders: readonly string[];
  uidHeaders: readonly string[];
  groupHeaders: readonly string[];
  /** Matched as prefixes of the header name, like kube-apiserver's `--requestheader-extra-headers-prefix`. */
  extraHeadersPrefixes: readonly string[];
}

type IdentityHeaderKind = 'impersonation' | 'requestHeader';

/**
 * Whether a client header carries an identity claim, and which kind. The one definition of "client
 * identity header", used by {@link outgoingHeaders} and {@link clientIdentityHeaders}.
 * @param name the header name, lower-cased.
 */
function identityHeaderKind(name: string, names: RequestHeaderNames): IdentityHeaderKind | undefined {
  if (name.startsWith(IMPERSONATE_PREFIX)) return 'impersonation';
  if (DEFAULT_REQUEST_HEADERS.includes(name) || DEFAULT_REQUEST_HEADER_PREFIXES.some((p) => name.startsWith(p))) return 'requestHeader';
  const is = (configured: string) => configured.toLowerCase() === name;
  if (names.usernameHeaders.some(is) || names.uidHeaders.some(is) || names.groupHeaders.some(is)) return 'requestHeader';
  if (names.extraHeadersPrefixes.some((p) => name.startsWith(p.toLowerCase()))) return 'requestHeader';
  return undefined;
}

/** Lower-cased names of the client identity headers present, by kind, each name once, in order of appearance. */
export interface ClientIdentityHeaders {
  impersonation: string[];
  requestHeaders: string[];
}

/**
 * The client identity headers a request carries, for the audit record of a request refused before
 * {@link outgoingHeaders} ran. Pure.
 * @param rawHeaders Node's `req.rawHeaders` (name, value, name, value, …).
 * @param names `impersonation.requestHeader` from the config.
 * @example
 * const { impersonation, requestHeaders } = clientIdentityHeaders(req.rawHeaders, config.impersonation.requestHeader);
 */
export function clientIdentityHeaders(rawHeaders: readonly string[], names: RequestHeaderNames): ClientIdentityHeaders {
  requireNames(names, 'clientIdentityHeaders');
  const found = { impersonation: new Set<string>(), requestHeader: new Set<string>() };
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const kind = identityHeaderKind(name, names);
    if (kind !== undefined) found[kind].add(name);
  }
  return { impersonation: [...found.impersonation], requestHeaders: [...found.requestHeader] };
}


export interface OutgoingIdentity {
  user: UserInfo;
  /** kubegate's own credential, e.g. `Bearer <service-account token>`; undefined with client-certificate auth. */
  authorization: string | undefined;
  auditId: string;
  clientAddress: string;
  /** For a validated protocol upgrade: the protocol to request upstream. */
  upgrade?: UpgradeProtocol | undefined;
  /** `impersonation.requestHeader` from the config: requestheader names stripped beyond the `X-Remote-*` defaults. */
  requestHeaderNames: RequestHeaderNames;
}

export type UpgradeProtocol = 'websocket' | 'SPDY/3.1';

export interface HygieneResult {
  headers: OutgoingHttpHeaders;
  /** Lower-cased names of client `Impersonate-*` headers that were removed (for the audit record). */
  strippedImpersonation: string[];
  /** Lower-cased names of client requestheader headers (`X-Remote-*`, configured ones) that were removed. */
  strippedRequestHeaders: string[];
}

/**
 * Build the headers sent to the API server. Pure.
 * @throws KubegateError IDENTITY_INVALID when the identity cannot be expressed as header values.
 * @throws TypeError when `requestHeaderNames` is missing (a caller's mistake).
 */
export function outgoingHeaders(client: IncomingHttpHeaders, id: OutgoingIdentity): HygieneResult {
  requireNames(id.requestHeaderNames, 'outgoingHeaders');
  const connectionListed = new Set<string>();
  for (const token of headerList(client.connection)) {
    const name = token.trim().toLowerCase();
    if (name && !FRAMING.has(name)) connectionListed.add(name);
  }

  const headers: OutgoingHttpHeaders = {};
  const stripped = { impersonation: [] as string[], requestHeader: [] as string[] };
  for (const [rawName, value] of Object.entries(client)) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    const kind = identityHeaderKind(name, id.requestHeaderNames);
    if (kind !== undefined) {
      stripped[kind].push(name);
      continue;
    }
    // HTTP/2 pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`) describe the client's stream.
    if (ALWAYS_STRIPPED.has(name) || connectionListed.has(name) || name.startsWith(':')) continue;
    headers[name] = value;
  }
  // A WebSocket client's token may ride in a subprotocol: it must not travel upstream either, on any request.
  const protocols = headers['sec-websocket-protocol'];
  if (typeof protocols === 'string') {
    const kept = protocols.split(',').map((p) => p.trim()).filter((p) => p && !p.startsWith(WEBSOCKET_TOKEN_PROTOCOL_PREFIX));
    if (kept.length > 0) headers['sec-websocket-protocol'] = kept.join(', ');
    else delete headers['sec-websocket-protocol'];
  }
  if (id.upgrade !== undefined) {
    headers.connection = 'Upgrade';
    headers.upgrade = id.upgrade;
  }

  // kubegate-owned headers, set last. This is the only place they are set.
  if (id.authorization !== undefined) headers.authorization = id.authorization;
  Object.assign(headers, identityBlock(id.user, impersonationHeaders));
  headers['x-forwarded-for'] = id.clientAddress;
  headers['audit-id'] = id.auditId;
  return { headers, strippedImpersonation: stripped.impersonation, strippedRequestHeaders: stripped.requestHeader };
}

/**
 * The API server's response headers as relayed to the client: without the headers that describe the
 * API server's connection (RFC 9110 §7.6.1, and the names its `Connection:` lists), which HTTP/2 forbids
 * and which would misdescribe the client's own connection on HTTP/1.1; Node frames the body for the
 * client again. `connection: close` is added on HTTP/1.1 while kubegate shuts down, so the client takes
 * its next request elsewhere. Pure.
 */
export function responseHeaders(upstream: IncomingHttpHeaders, opts: { http2: boolean; draining: boolean }): OutgoingHttpHeaders {
  const listed = upstream.connection === undefined ? undefined : new Set(headerList(upstream.connection).map((n) => n.trim().toLowerCase()));
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (CONNECTION_SPECIFIC.has(name) || name.startsWith(':') || listed?.has(name)) continue;
    out[name] = upstream[name];
  }
  if (opts.draining && !opts.http2) out.connection = 'close';
  return out;
}

function requireNames(names: RequestHeaderNames | undefined, fn: string): void {
  if (!names) throw new TypeError(`${fn}: requestHeaderNames (config impersonation.requestHeader) is required`);
}

/** `Impersonate-*` headers for a user. `Impersonate-User` is always present. */
export function impersonationHeaders(user: UserInfo): OutgoingHttpHeaders {
  if (!user.username) throw new KubegateError('IDENTITY_INVALID', 'refusing to forward without a username');
  const headers: OutgoingHttpHeaders = { 'impersonate-user': headerValue(user.username, 'username') };
  if (user.groups.length > 0) headers['impersonate-group'] = user.groups.map((g) => headerValue(g, 'group'));
  if (user.uid !== undefined) headers['impersonate-uid'] = headerValue(user.uid, 'uid');
  for (const [key, values] of Object.entries(user.extra)) {
    if (values.length === 0) continue;
    headers[`impersonate-extra-${escapeExtraKey(key)}`] = values.map((v) => headerValue(v, 'extra value'));
  }
  return headers;
}

/**
 * Escape a user-extra key the way client-go does (transport.headerKeyEscape): every byte that is not an
 * RFC 7230 token character, and `%` itself, becomes `%XX`. The API server lower-cases and unescapes it.
 */
export function escapeExtraKey(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte !== 0x25 && HTTP_TOKEN.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** UTF-8 names travel as their raw bytes (as Go clients send them); control characters and surrounding whitespace are refused. */
function headerValue(value: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new KubegateError('IDENTITY_INVALID', `mapped ${what} contains a control character`);
  }
  // HTTP parsers trim surrounding whitespace: " system:masters" would arrive as "system:masters".
  if (value !== value.trim()) throw new KubegateError('IDENTITY_INVALID', `mapped ${what} has leading or trailing whitespace`);
  return /^[\u0020-\u007e]*$/.test(value) ? value : Buffer.from(value, 'utf8').toString('latin1');
}

function headerList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value).split(',');
}
