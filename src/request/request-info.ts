/**
 * Port of kube-apiserver's RequestInfoFactory.NewRequestInfo
 * (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), with the factory configured the way
 * kube-apiserver configures it: API prefixes `api` and `apis`, of which `api` is groupless
 * (legacy core group, apiGroup '').
 *
 * The URL handling follows what Go's HTTP server does before that code runs
 * (url.ParseRequestURI): the query starts at the first '?', the path is percent-decoded as a
 * whole *before* it is split on '/', so `%2F` splits a segment, and only leading/trailing slashes
 * are trimmed (strings.Trim), inner empty segments are kept. Query parameters are parsed like
 * url.ParseQuery ('+' is a space; pairs containing ';' or a bad escape are dropped), and the
 * list/watch/name logic follows metainternalversion.ListOptions decoding, including the
 * `fieldSelector=metadata.name=X` rule (fields.ParseSelector + IsValidPathSegmentName).
 *
 * Deliberate differences from Go:
 * - Never throws and has no error result. Where Go returns an error (a special verb with nothing
 *   after it, e.g. GET /api/v1/watch, which kube-apiserver answers with a 500) this returns the
 *   partial info Go had built before failing.
 * - Malformed percent-encoding in the path makes Go's server reject the request with 400 before
 *   NewRequestInfo runs; here the raw (undecoded) path is used instead. Decoded bytes that are
 *   not valid UTF-8 become U+FFFD (Go keeps the raw bytes).
 * - Go drops the fieldSelector-derived name when *any* ListOptions parameter fails to decode.
 *   fieldSelector, limit and timeoutSeconds are checked here; labelSelector syntax is not, so
 *   with a malformed labelSelector this may report a name where Go reports none.
 * - The FieldSelector/LabelSelector fields added for the AuthorizeWithSelectors feature are not
 *   produced.
 * - Non-resource results carry only isResourceRequest, path and verb (Go may also have filled
 *   APIPrefix, e.g. for /apis/apps/v1). Resource results always carry every string field ('' when
 *   empty, like Go's zero values) and parts.
 * - An absolute-form request target (`http://host/path`) is reduced to its path, as Go does.
 */

export interface RequestInfo {
  isResourceRequest: boolean;
  path: string;
  /** get, list, watch, create, update, patch, delete, deletecollection, proxy; for non-resource requests the lowercased HTTP method */
  verb: string;
  apiPrefix?: string;
  apiGroup?: string;
  apiVersion?: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  parts?: string[];
}

const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_API_PREFIXES = new Set(['api']);
/** Path segments that name a verb: /api/v1/watch/..., /api/v1/proxy/... */
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy']);
/** Lets /namespaces/{ns}/status be told apart from /namespaces/{ns}/{resource}. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
/** Exact (case-sensitive) method names, as in Go's switch. */
const METHOD_VERBS = new Map([
  ['POST', 'create'],
  ['GET', 'get'],
  ['HEAD', 'get'],
  ['PUT', 'update'],
  ['PATCH', 'patch'],
  ['DELETE', 'delete'],
]);

/** Parse a request's method and URL (path + query, as in req.url) the way kube-apiserver does. Pure; never throws on odd input. */
export function parseRequestInfo(method: string, url: string): RequestInfo {
  const { path, query } = splitRequestURI(url);
  // start with a non-resource request until proven otherwise
  const nonResource: RequestInfo = { isResourceRequest: false, path, verb: method.toLowerCase() };

  let parts = splitPath(path);
  const apiPrefix = parts[0];
  if (parts.length < 3 || apiPrefix === undefined || !API_PREFIXES.has(apiPrefix)) return nonResource;
  parts = parts.slice(1);

  let apiGroup = '';
  if (!GROUPLESS_API_PREFIXES.has(apiPrefix)) {
    // the prefix is consumed already, so this asks "were there four parts?"
    if (parts.length < 3) return nonResource;
    apiGroup = parts[0] ?? '';
    parts = parts.slice(1);
  }

  const info: RequestInfo = {
    isResourceRequest: true,
    path,
    verb: nonResource.verb,
    apiPrefix,
    apiGroup,
    apiVersion: parts[0] ?? '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    parts: [],
  };
  parts = parts.slice(1); // at least one part is left here

  // handle input of form /{specialVerb}/*
  const first = parts[0] ?? '';
  if (SPECIAL_VERBS.has(first)) {
    if (parts.length < 2) return info; // Go: "unable to determine kind and namespace from url"
    info.verb = first;
    parts = parts.slice(1);
  } else {
    info.verb = METHOD_VERBS.get(method) ?? '';
  }

  // URL forms: /namespaces/{namespace}/{kind}/*, where parts are adjusted to be relative to kind
  if (parts[0] === 'namespaces' && parts.length > 1) {
    info.namespace = parts[1];
    // a step after the namespace name that is not a namespace subresource is a resource in its own right
    const next = parts[2];
    if (next !== undefined && !NAMESPACE_SUBRESOURCES.has(next)) parts = parts.slice(2);
  }

  // parts look like: resource/resourceName/subresource/other/stuff/we/don't/interpret
  info.parts = parts;
  info.resource = parts[0] ?? '';
  info.name = parts[1] ?? '';
  info.subresource = SPECIAL_VERBS_NO_SUBRESOURCES.has(info.verb) ? '' : (parts[2] ?? '');

  // no name and we thought it was a get: the actual verb is list or watch
  if (info.name === '' && info.verb === 'get') {
    const opts = decodeListOptions(parseQuery(query));
    info.verb = opts.watch ? 'watch' : 'list';
    if (opts.name !== undefined && isValidPathSegmentName(opts.name)) info.name = opts.name;
  }
  // no name and we thought it was a delete: the actual verb is deletecollection
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';

  return info;
}

/** Go's splitPath: the path's segments, leading and trailing slashes trimmed (no regular expression: this runs on every request). */
function splitPath(path: string): string[] {
  let start = 0;
  let end = path.length;
  while (start < end && path.charCodeAt(start) === 0x2f /* / */) start++;
  while (end > start && path.charCodeAt(end - 1) === 0x2f) end--;
  return start === end ? [] : path.slice(start, end).split('/');
}

/** Split a request target like url.ParseRequestURI: query from the first '?', decoded path. */
function splitRequestURI(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  let rawPath = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/.exec(rawPath);
  if (absolute) rawPath = rawPath.slice(absolute[0].length);
  return { path: unescape(rawPath, false) ?? rawPath, query };
}

/** Go's url.unescape: undefined on a malformed %-escape; '+' means space only in query components. */
function unescape(s: string, plusIsSpace: boolean): string | undefined {
  if (!s.includes('%') && !(plusIsSpace && s.includes('+'))) return s;
  const src = Buffer.from(s, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const c = src[i] ?? 0;
    if (c === 0x25 /* % */) {
      const hex = src.subarray(i + 1, i + 3).toString('latin1');
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(plusIsSpace && c === 0x2b /* + */ ? 0x20 : c);
    }
  }
  return Buffer.from(out).toString('utf8');
}

/** Go's url.ParseQuery, keeping only what parses (as req.URL.Query() does). */
function parseQuery(query: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const pair of query.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const key = unescape(eq < 0 ? pair : pair.slice(0, eq), true);
    const value = unescape(eq < 0 ? '' : pair.slice(eq + 1), true);
    if (key === undefined || value === undefined) continue;
    values.set(key, [...(values.get(key) ?? []), value]);
  }
  return values;
}

/**
 * The part of ListOptions decoding that NewRequestInfo looks at: `watch` (any value but
 * "false"/"0", case-insensitively, is true, even an empty one) and the name required by the field
 * selector. If decoding fails, Go keeps only `watch`.
 */
function decodeListOptions(values: Map<string, string[]>): { watch: boolean; name?: string } {
  const param = (key: string): string | undefined => values.get(key)?.[0];
  const watchValue = param('watch')?.toLowerCase();
  const watch = watchValue !== undefined && watchValue !== 'false' && watchValue !== '0';

  for (const key of ['limit', 'timeoutSeconds']) {
    const value = param(key);
    if (value !== undefined && !isInt64(value)) return { watch };
  }
  const selector = param('fieldSelector');
  if (selector === undefined) return { watch };
  const terms = parseFieldSelector(selector);
  if (terms === undefined) return { watch };
  const term = terms.find((t) => t.op !== '!=' && t.field === 'metadata.name');
  return term === undefined ? { watch } : { watch, name: term.value };
}

/** strconv.ParseInt(s, 10, 64) succeeds. */
function isInt64(s: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(s)) return false;
  const n = BigInt(s);
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

interface FieldTerm {
  field: string;
  op: string;
  value: string;
}

/** fields.ParseSelector: terms in (bytewise) sorted order, or undefined if the selector is invalid. */
function parseFieldSelector(selector: string): FieldTerm[] | undefined {
  const terms: FieldTerm[] = [];
  const parts = splitTerms(selector).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const part of parts) {
    if (part === '') continue;
    // no escaping on the left: the first operator found splits the term
    const m = /!=|==|=/.exec(part);
    if (!m) return undefined;
    const value = unescapeSelectorValue(part.slice(m.index + m[0].length));
    if (value === undefined) return undefined;
    terms.push({ field: part.slice(0, m.index), op: m[0], value });
  }
  return terms;
}

/** fields.splitTerms: split on ',' unless backslash-escaped (the backslash stays). */
function splitTerms(selector: string): string[] {
  if (selector === '') return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

/** fields.UnescapeValue: `\\`, `\,`, `\=` are escapes; other escapes and bare ',' or '=' are errors. */
function unescapeSelectorValue(s: string): string | undefined {
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') return undefined;
      out += c;
      inSlash = false;
    } else if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') return undefined;
    else out += c;
  }
  return inSlash ? undefined : out;
}

/** path.IsValidPathSegmentName reports no errors. */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}
