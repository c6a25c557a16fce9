import t from 'tap';
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import {
  clientIdentityHeaders,
  escapeExtraKey,
  outgoingHeaders,
  responseHeaders,
  type HygieneResult,
  type OutgoingIdentity,
  type RequestHeaderNames,
} from '../../src/impersonation/headers.js';
import type { UserInfo } from '../../src/identity/user.js';
import { KubegateError } from '../../src/errors/errors.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const AUTH = 'Bearer kubegate-service-account-token';
const AUDIT_ID = '6f1c2f7e-0d8b-4a43-9a55-1d1b0c1e5a01';
const CLIENT_ADDRESS = '10.0.0.7';

const alice: UserInfo = { username: 'alice', groups: ['dev', 'ops'], extra: {} };

/** No requestheader names configured: only the X-Remote-* defaults are requestheader headers. */
const NONE: RequestHeaderNames = { usernameHeaders: [], uidHeaders: [], groupHeaders: [], extraHeadersPrefixes: [] };
/** A cluster whose front proxy uses its own names (configured in any case). */
const FRONT: RequestHeaderNames = {
  usernameHeaders: ['X-Front-User'],
  uidHeaders: ['x-front-uid'],
  groupHeaders: ['X-FRONT-GROUPS'],
  extraHeadersPrefixes: ['X-Front-Extra-'],
};

function identity(user: UserInfo, overrides: Partial<OutgoingIdentity> = {}): OutgoingIdentity {
  return { user, authorization: AUTH, auditId: AUDIT_ID, clientAddress: CLIENT_ADDRESS, requestHeaderNames: NONE, ...overrides };
}

/**
 * The test's own statement of what a requestheader header is (kube-apiserver's rules): the X-Remote-*
 * defaults always, plus the configured names (exact, any case) and prefixes (any case).
 */
function isRequestHeader(name: string, names: RequestHeaderNames): boolean {
  const lower = name.toLowerCase();
  const exact = ['X-Remote-User', 'X-Remote-Uid', 'X-Remote-Group', ...names.usernameHeaders, ...names.uidHeaders, ...names.groupHeaders];
  const prefixes = ['X-Remote-Extra-', ...names.extraHeadersPrefixes];
  return exact.some((n) => n.toLowerCase() === lower) || prefixes.some((p) => lower.startsWith(p.toLowerCase()));
}

/** An IncomingHttpHeaders object as Node's rawHeaders list (name, value, …). */
function rawHeadersOf(client: IncomingHttpHeaders): string[] {
  return Object.entries(client).flatMap(([name, value]) => (value === undefined ? [] : [name, String(value)]));
}

/** Headers that must never come from the client. */
const NEVER_FROM_CLIENT = [
  'host',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'forwarded',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
];

/** The impersonation headers kubegate must send for a user, and nothing else. */
function expectedImpersonation(user: UserInfo): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = { 'impersonate-user': user.username };
  if (user.groups.length > 0) h['impersonate-group'] = [...user.groups];
  if (user.uid !== undefined) h['impersonate-uid'] = user.uid;
  for (const [k, v] of Object.entries(user.extra)) if (v.length > 0) h[`impersonate-extra-${escapeExtraKey(k)}`] = [...v];
  return h;
}

/** Properties that hold for every input. */
function checkInvariants(t: Test, client: IncomingHttpHeaders, id: OutgoingIdentity, result: HygieneResult) {
  const { headers } = result;
  const impersonation = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase().startsWith('impersonate-')));
  t.strictSame(impersonation, expectedImpersonation(id.user), 'only the user\'s own impersonation headers');
  if (id.authorization === undefined) t.notOk('authorization' in headers, 'no authorization without kubegate credentials');
  else t.equal(headers.authorization, id.authorization, 'authorization is kubegate\'s own');
  t.equal(headers['x-forwarded-for'], id.clientAddress, 'x-forwarded-for is the client address');
  t.equal(headers['audit-id'], id.auditId, 'audit-id is kubegate\'s');
  for (const name of NEVER_FROM_CLIENT) t.notOk(name in headers, `${name} stripped`);
  t.strictSame(
    [...result.strippedImpersonation].sort(),
    Object.keys(client).map((k) => k.toLowerCase()).filter((k) => k.startsWith('impersonate-')).sort(),
    'strippedImpersonation lists every client impersonation header',
  );
  const clientRequestHeaders = Object.keys(client).filter((k) => isRequestHeader(k, id.requestHeaderNames));
  for (const name of clientRequestHeaders) t.notOk(name.toLowerCase() in headers, `requestheader ${name} stripped`);
  t.notOk(Object.keys(headers).some((k) => isRequestHeader(k, id.requestHeaderNames)), 'no requestheader header goes upstream');
  t.strictSame(
    [...result.strippedRequestHeaders].sort(),
    clientRequestHeaders.map((k) => k.toLowerCase()).sort(),
    'strippedRequestHeaders lists every client requestheader header',
  );
  // One definition of "identity header": the refused-request path reports what hygiene strips.
  const reported = clientIdentityHeaders(rawHeadersOf(client), id.requestHeaderNames);
  t.strictSame([...reported.impersonation].sort(), [...new Set(result.strippedImpersonation)].sort(), 'clientIdentityHeaders agrees on impersonation');
  t.strictSame([...reported.requestHeaders].sort(), [...new Set(result.strippedRequestHeaders)].sort(), 'clientIdentityHeaders agrees on requestheader');
  // Node must accept every header kubegate emits.
  for (const [name, value] of Object.entries(headers)) {
    t.doesNotThrow(() => {
      http.validateHeaderName(name);
      for (const v of Array.isArray(value) ? value : [value]) {
        if (typeof v !== 'string') throw new TypeError(`${name}: ${typeof v} value`);
        http.validateHeaderValue(name, v);
      }
    }, `${name} is a valid Node header`);
  }
}

type Case = {
  name: string;
  client: IncomingHttpHeaders;
  id: OutgoingIdentity;
  headers: OutgoingHttpHeaders;
  stripped: string[];
  /** Expected strippedRequestHeaders; default none. */
  strippedRequest?: string[];
};

const kubegateOwn = (user: UserInfo, { withAuthorization = true } = {}): OutgoingHttpHeaders => ({
  ...(withAuthorization ? { authorization: AUTH } : {}),
  ...expectedImpersonation(user),
  'x-forwarded-for': CLIENT_ADDRESS,
  'audit-id': AUDIT_ID,
});

const cases: Case[] = [
  {
    name: 'ordinary request headers pass through',
    client: { host: 'kube.example.com', accept: 'application/json', 'user-agent': 'kubectl/v1.31', 'content-type': 'application/json', 'content-length': '12' },
    id: identity(alice),
    headers: {
      accept: 'application/json',
      'user-agent': 'kubectl/v1.31',
      'content-type': 'application/json',
      'content-length': '12',
      ...kubegateOwn(alice),
    },
    stripped: [],
  },
  {
    name: 'client impersonation of every kind is removed and reported',
    client: {
      host: 'kube.example.com',
      'impersonate-user': 'a, b',
      'impersonate-group': 'system:masters',
      'impersonate-uid': 'u',
      'impersonate-extra-scopes': 's',
      'impersonate-extra-example.com%2fscopes': 's',
      'impersonate-anything': 'x',
    },
    id: identity({ username: 'bob', groups: [], extra: {} }),
    headers: { ...kubegateOwn({ username: 'bob', groups: [], extra: {} }) },
    stripped: ['impersonate-user', 'impersonate-group', 'impersonate-uid', 'impersonate-extra-scopes', 'impersonate-extra-example.com%2fscopes', 'impersonate-anything'],
  },
  {
    // Node always lower-cases; a hand-built object may not.
    name: 'hand-built headers with upper-case names are still caught',
    client: { Host: 'kube.example.com', 'Impersonate-User': 'admin', AUTHORIZATION: 'Bearer stolen', 'X-Forwarded-For': '1.2.3.4', 'Keep-Alive': '5' },
    id: identity(alice),
    headers: { ...kubegateOwn(alice) },
    stripped: ['impersonate-user'],
  },
  {
    name: 'no kubegate credential: client authorization is still removed',
    client: { host: 'kube.example.com', authorization: 'Bearer client-oidc-token' },
    id: identity(alice, { authorization: undefined }),
    headers: { ...kubegateOwn(alice, { withAuthorization: false }) },
    stripped: [],
  },
  {
    name: 'forwarding, credential and hop-by-hop headers are stripped',
    client: {
      host: 'kube.example.com',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      'x-forwarded-for': '1.2.3.4, 5.6.7.8',
      'x-forwarded-host': 'evil.example.com',
      'x-forwarded-proto': 'http',
      'x-forwarded-port': '80',
      'x-real-ip': '1.2.3.4',
      forwarded: 'for=1.2.3.4',
      'audit-id': 'client-chosen-audit-id',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      te: 'trailers',
      trailer: 'x-checksum',
      upgrade: 'websocket',
      accept: '*/*',
    },
    id: identity(alice),
    headers: { accept: '*/*', ...kubegateOwn(alice) },
    stripped: [],
  },
  {
    name: 'a header named in Connection is dropped; Content-Length is kept (Host and Transfer-Encoding never pass: the upstream client sets them)',
    client: {
      host: 'kube.example.com',
      connection: 'close, X-Kubegate-Test, Content-Length, Transfer-Encoding, Host, Accept',
      'x-kubegate-test': '1',
      'content-length': '5',
      'transfer-encoding': 'chunked',
      accept: 'application/json',
      'content-type': 'application/json',
    },
    id: identity(alice),
    headers: {
      'content-length': '5',
      'content-type': 'application/json',
      ...kubegateOwn(alice),
    },
    stripped: [],
  },
  {
    name: 'Connection tokens are trimmed, case-folded, empty ones ignored',
    client: { host: 'kube.example.com', connection: ' ,X-KUBEGATE-TEST ,, ,  x-other  ', 'x-kubegate-test': '1', 'x-other': '2', 'x-kept': '3' },
    id: identity(alice),
    headers: { 'x-kept': '3', ...kubegateOwn(alice) },
    stripped: [],
  },
  {
    name: 'Connection naming kubegate-owned headers cannot remove them',
    client: { host: 'kube.example.com', connection: 'authorization, audit-id, x-forwarded-for, impersonate-user, impersonate-group', authorization: 'Bearer x' },
    id: identity(alice),
    headers: { ...kubegateOwn(alice) },
    stripped: [],
  },
  {
    name: 'one impersonate-group entry per group; uid only when set',
    client: { host: 'kube.example.com' },
    id: identity({ username: 'carol', uid: 'c-123', groups: ['a', 'b,c', 'd e'], extra: {} }),
    headers: {
      ...kubegateOwn({ username: 'carol', uid: 'c-123', groups: ['a', 'b,c', 'd e'], extra: {} }),
    },
    stripped: [],
  },
  {
    name: 'a single group is still an array; no groups, no header',
    client: {},
    id: identity({ username: 'dave', groups: ['only'], extra: {} }),
    headers: {
      authorization: AUTH,
      'impersonate-user': 'dave',
      'impersonate-group': ['only'],
      'x-forwarded-for': CLIENT_ADDRESS,
      'audit-id': AUDIT_ID,
    },
    stripped: [],
  },
  {
    name: 'extra keys escaped, values one entry each; empty extra omitted',
    client: { host: 'kube.example.com' },
    id: identity({ username: 'erin', groups: [], extra: { 'example.com/scopes': ['read', 'write'], 'a%b': ['1'], empty: [] } }),
    headers: {
      authorization: AUTH,
      'impersonate-user': 'erin',
      'impersonate-extra-example.com%2Fscopes': ['read', 'write'],
      'impersonate-extra-a%25b': ['1'],
      'x-forwarded-for': CLIENT_ADDRESS,
      'audit-id': AUDIT_ID,
    },
    stripped: [],
  },
  {
    name: 'requestheader defaults in any case are removed and reported; near misses pass',
    client: {
      host: 'kube.example.com',
      'X-Remote-User': 'admin',
      'x-remote-group': 'system:masters',
      'X-REMOTE-UID': '0',
      'X-Remote-Extra-Scopes': 'everything',
      'x-remote-extra-example.com%2fscopes': 's',
      'x-remote-users': 'not a requestheader name',
      'x-remote-extra': 'the prefix is X-Remote-Extra- with its dash',
      'x-remote-addr': '1.2.3.4',
    },
    id: identity(alice),
    headers: {
      'x-remote-users': 'not a requestheader name',
      'x-remote-extra': 'the prefix is X-Remote-Extra- with its dash',
      'x-remote-addr': '1.2.3.4',
      ...kubegateOwn(alice),
    },
    stripped: [],
    strippedRequest: ['x-remote-user', 'x-remote-group', 'x-remote-uid', 'x-remote-extra-scopes', 'x-remote-extra-example.com%2fscopes'],
  },
  {
    // Node joins repeated headers into one value: one name to report.
    name: 'repeated requestheader headers, as Node joins them',
    client: { host: 'kube.example.com', 'x-remote-user': 'admin, root', 'x-remote-group': 'system:masters, dev' },
    id: identity(alice),
    headers: { ...kubegateOwn(alice) },
    stripped: [],
    strippedRequest: ['x-remote-user', 'x-remote-group'],
  },
  {
    name: 'configured requestheader names and prefixes are removed too, any case, defaults still',
    client: {
      host: 'kube.example.com',
      'x-front-user': 'admin',
      'X-Front-Uid': '0',
      'x-front-groups': 'system:masters',
      'x-front-extra-scopes': 's',
      'X-FRONT-EXTRA-team': 't',
      'x-remote-user': 'admin',
      'x-remote-extra-scopes': 's',
      'x-front-group': 'not configured (groups is)',
      'x-front-extra': 'the prefix is X-Front-Extra- with its dash',
    },
    id: identity(alice, { requestHeaderNames: FRONT }),
    headers: {
      'x-front-group': 'not configured (groups is)',
      'x-front-extra': 'the prefix is X-Front-Extra- with its dash',
      ...kubegateOwn(alice),
    },
    stripped: [],
    strippedRequest: ['x-front-user', 'x-front-uid', 'x-front-groups', 'x-front-extra-scopes', 'x-front-extra-team', 'x-remote-user', 'x-remote-extra-scopes'],
  },
  {
    name: 'control: a front proxy\'s own names pass when not configured',
    client: { host: 'kube.example.com', 'x-front-user': 'admin', 'x-front-extra-scopes': 's' },
    id: identity(alice),
    headers: { 'x-front-user': 'admin', 'x-front-extra-scopes': 's', ...kubegateOwn(alice) },
    stripped: [],
  },
  {
    name: 'identity headers listed in Connection are still reported as stripped',
    client: {
      host: 'kube.example.com',
      connection: 'close, X-Remote-User, Impersonate-User, x-remote-extra-a, X-Front-User',
      'x-remote-user': 'admin',
      'impersonate-user': 'admin',
      'x-remote-extra-a': '1',
      'x-front-user': 'admin',
    },
    id: identity(alice, { requestHeaderNames: FRONT }),
    headers: { ...kubegateOwn(alice) },
    stripped: ['impersonate-user'],
    strippedRequest: ['x-remote-user', 'x-remote-extra-a', 'x-front-user'],
  },
  {
    name: 'the bearer token subprotocol never travels upstream, even on a plain request',
    client: { host: 'kube.example.com', 'sec-websocket-protocol': 'v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.dG9rZW4' },
    id: identity(alice),
    headers: { 'sec-websocket-protocol': 'v5.channel.k8s.io', ...kubegateOwn(alice) },
    stripped: [],
  },
  {
    name: 'a token subprotocol alone: the header goes',
    client: { host: 'kube.example.com', 'sec-websocket-protocol': 'base64url.bearer.authorization.k8s.io.dG9rZW4' },
    id: identity(alice),
    headers: { ...kubegateOwn(alice) },
    stripped: [],
  },
  {
    name: 'undefined client values are skipped',
    client: { host: 'kube.example.com', accept: undefined },
    id: identity(alice),
    headers: { ...kubegateOwn(alice) },
    stripped: [],
  },
];

t.test('outgoingHeaders table', async (t) => {
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const frozenClient = Object.freeze({ ...c.client });
      const result = outgoingHeaders(frozenClient, c.id);
      t.strictSame(result.headers, c.headers, 'exact outgoing headers');
      t.strictSame([...result.strippedImpersonation].sort(), [...c.stripped].sort(), 'strippedImpersonation');
      t.strictSame([...result.strippedRequestHeaders].sort(), [...(c.strippedRequest ?? [])].sort(), 'strippedRequestHeaders');
      checkInvariants(t, c.client, c.id, result);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Real Node parsing: a raw request written on a socket, parsed by http.createServer.

async function parseRawRequest(t: Test, raw: string): Promise<http.IncomingMessage> {
  const server = http.createServer();
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const received = new Promise<http.IncomingMessage>((resolve, reject) => {
    server.once('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      req.on('end', () => {
        resolve(req);
        res.writeHead(204, { connection: 'close' }).end();
      });
    });
    server.once('clientError', reject);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const socket = net.connect(port, '127.0.0.1', () => socket.write(raw));
  socket.resume();
  t.teardown(() => socket.destroy());
  return received;
}

t.test('raw request parsed by Node, then outgoingHeaders', async (t) => {
  const raw = [
    'POST /api/v1/namespaces/default/pods HTTP/1.1',
    'Host: kube.example.com',
    'AUTHORIZATION: x',
    'impersonate-user: a',
    'Impersonate-User: b',
    'IMPERSONATE-GROUP: system:masters',
    'Impersonate-Uid: u',
    'Impersonate-Extra-Scopes: s',
    'X-Remote-User: admin',
    'x-remote-user: root',
    'X-REMOTE-GROUP: system:masters',
    'X-Remote-Group: dev',
    'X-Remote-Uid: 0',
    'x-Remote-Extra-Scopes: all',
    'X-Front-User: admin',
    'X-Forwarded-For: 1.2.3.4',
    'Connection: keep-alive, Impersonate-User, Authorization, X-Kubegate-Test, X-Remote-User',
    'X-Kubegate-Test: 1',
    'Content-Type: application/json',
    'Content-Length: 2',
    '',
    '{}',
  ].join('\r\n');
  const req = await parseRawRequest(t, raw);
  // what Node hands the proxy
  t.equal(req.headers['impersonate-user'], 'a, b', 'Node joins the duplicated impersonate-user');
  t.equal(req.headers.authorization, 'x');
  t.equal(req.headers['x-kubegate-test'], '1');
  t.equal(req.headers['x-remote-user'], 'admin, root', 'and the duplicated x-remote-user');

  const id = identity(alice, { requestHeaderNames: FRONT });
  const result = outgoingHeaders(req.headers, id);
  t.strictSame(result.headers, {
    'content-type': 'application/json',
    'content-length': '2',
    ...kubegateOwn(alice),
  });
  t.notOk('x-kubegate-test' in result.headers, 'header named in Connection dropped');
  t.strictSame([...result.strippedImpersonation].sort(), ['impersonate-extra-scopes', 'impersonate-group', 'impersonate-uid', 'impersonate-user']);
  t.strictSame([...result.strippedRequestHeaders].sort(), ['x-front-user', 'x-remote-extra-scopes', 'x-remote-group', 'x-remote-uid', 'x-remote-user']);
  checkInvariants(t, req.headers, id, result);

  // A request refused before hygiene reports the same names from its raw headers: once each, lower-cased.
  t.strictSame(clientIdentityHeaders(req.rawHeaders, FRONT), {
    impersonation: ['impersonate-user', 'impersonate-group', 'impersonate-uid', 'impersonate-extra-scopes'],
    requestHeaders: ['x-remote-user', 'x-remote-group', 'x-remote-uid', 'x-remote-extra-scopes', 'x-front-user'],
  });
  t.strictSame(clientIdentityHeaders(req.rawHeaders, NONE).requestHeaders, ['x-remote-user', 'x-remote-group', 'x-remote-uid', 'x-remote-extra-scopes'], 'X-Front-User only when configured');

  const noCredential = outgoingHeaders(req.headers, identity(alice, { authorization: undefined }));
  t.notOk('authorization' in noCredential.headers, 'client AUTHORIZATION does not survive without kubegate credentials');
});

t.test('raw chunked request listing framing headers in Connection: nothing of the client\'s hop passes (the upstream client frames the body again: test/proxy/h1-client.test.ts)', async (t) => {
  const raw = [
    'PATCH /api/v1/namespaces/default/pods/p HTTP/1.1',
    'Host: kube.example.com',
    'Transfer-Encoding: chunked',
    'Connection: close, Transfer-Encoding, Host, Content-Type, X-Kubegate-Test',
    'X-Kubegate-Test: 1',
    'Content-Type: application/merge-patch+json',
    'Upgrade: h2c',
    'TE: trailers',
    'Keep-Alive: timeout=5',
    '',
    '2',
    '{}',
    '0',
    '',
    '',
  ].join('\r\n');
  const req = await parseRawRequest(t, raw);
  t.equal(req.headers['transfer-encoding'], 'chunked');
  const id = identity(alice);
  const result = outgoingHeaders(req.headers, id);
  t.strictSame(result.headers, { ...kubegateOwn(alice) });
  checkInvariants(t, req.headers, id, result);
});

// ---------------------------------------------------------------------------------------------
// Extra keys: client-go's headerKeyEscape (k8s.io/client-go/transport/round_trippers.go).
// Expected values use headerKeyEscape's upper-case %XX; the client-go tests show e.g. `%2f` only because
// Go canonicalizes header names. The API server lower-cases and then url.PathUnescape()s the key.

/** Go's url.PathUnescape for well-formed input: %XX → byte, then UTF-8. */
function pathUnescape(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`invalid escape at ${i} in ${s}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(s.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

t.test('escapeExtraKey matches client-go headerKeyEscape', async (t) => {
  const table: [source: string, key: string, escaped: string][] = [
    // TestHeaderEscapeRoundTrip
    ['alpha', 'alphabetical', 'alphabetical'],
    ['alphanumeric', 'alph4num3r1c', 'alph4num3r1c'],
    ['percent encoded', 'percent%20encoded', 'percent%2520encoded'],
    ['almost percent encoded', 'almost%zzpercent%xxencoded', 'almost%25zzpercent%25xxencoded'],
    ['illegal char & percent encoding', 'example.com/percent%20encoded', 'example.com%2Fpercent%2520encoded'],
    [
      'weird unicode stuff',
      'example.com/ᛒᚥᛏᛖᚥᚢとロビン',
      'example.com%2F%E1%9B%92%E1%9A%A5%E1%9B%8F%E1%9B%96%E1%9A%A5%E1%9A%A2%E3%81%A8%E3%83%AD%E3%83%93%E3%83%B3',
    ],
    ['header legal chars', "abc123!#$+.-_*\\^`~|'", "abc123!#$+.-_*%5C^`~|'"],
    ['legal path, illegal header', '@=:', '%40%3D%3A'],
    // TestImpersonationRoundTripper
    ['escape handling', 'test.example.com/thing.thing', 'test.example.com%2Fthing.thing'],
    ['double escape handling', 'test.example.com/thing.thing%20another.thing', 'test.example.com%2Fthing.thing%2520another.thing'],
    // TestAuthProxyRoundTripper
    ['escaped extra', 'example.com/two', 'example.com%2Ftwo'],
    ['double escaped extra', 'example.com/two%20three', 'example.com%2Ftwo%2520three'],
    // more
    ['scopes', 'example.com/scopes', 'example.com%2Fscopes'],
    ['lone percent', '%', '%25'],
    ['space and colon', 'a b:c', 'a%20b%3Ac'],
    ['latin-1 range character is UTF-8 encoded', 'é', '%C3%A9'],
    ['astral character', 'k🚀', 'k%F0%9F%9A%80'],
    ['quotes and separators', '"(),;<=>?@[]{}', '%22%28%29%2C%3B%3C%3D%3E%3F%40%5B%5D%7B%7D'],
    ['control characters', 'a\tb\u007f', 'a%09b%7F'],
  ];
  for (const [source, key, escaped] of table) {
    const got = escapeExtraKey(key);
    t.equal(got, escaped, source);
    t.match(got, TOKEN, `${source}: only token characters`);
    t.equal(pathUnescape(got), key, `${source}: PathUnescape round-trips`);
    t.equal(pathUnescape(got.toLowerCase()), key.toLowerCase(), `${source}: round-trips after the API server lower-cases it`);
  }
});

// ---------------------------------------------------------------------------------------------
// Identity values as header values.

t.test('UTF-8 identity values travel as their raw bytes', async (t) => {
  const user: UserInfo = {
    username: 'José Müller',
    uid: 'ユーザー🚀',
    groups: ['équipe', 'ascii', 'グループ'],
    extra: { 'example.com/team': ['Zoë'] },
  };
  const { headers } = outgoingHeaders({}, identity(user));
  const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  const utf8 = (s: string) => Buffer.from(s, 'latin1').toString('utf8');
  t.equal(headers['impersonate-user'], latin1('José Müller'));
  t.equal(headers['impersonate-user'], 'JosÃ© MÃ¼ller');
  t.equal(utf8(headers['impersonate-user'] as string), 'José Müller', 'username round-trips');
  t.equal(utf8(headers['impersonate-uid'] as string), 'ユーザー🚀', 'uid round-trips');
  t.strictSame((headers['impersonate-group'] as string[]).map(utf8), ['équipe', 'ascii', 'グループ'], 'groups round-trip');
  t.equal((headers['impersonate-group'] as string[])[1], 'ascii', 'ASCII unchanged');
  t.strictSame((headers['impersonate-extra-example.com%2Fteam'] as string[]).map(utf8), ['Zoë']);
  for (const v of Object.values(headers).flat()) t.match(String(v), /^[\u0020-\u00ff]*$/, 'every value is a byte string');
});

t.test('control characters and empty usernames are IDENTITY_INVALID', async (t) => {
  const bad: [string, UserInfo][] = [
    ['CRLF in username', { username: 'alice\r\nImpersonate-Group: system:masters', groups: [], extra: {} }],
    ['LF in username', { username: 'alice\n', groups: [], extra: {} }],
    ['NUL in username', { username: 'ali\u0000ce', groups: [], extra: {} }],
    ['DEL in username', { username: 'alice\u007f', groups: [], extra: {} }],
    ['tab in username', { username: 'al\tice', groups: [], extra: {} }],
    ['CRLF in group', { username: 'alice', groups: ['dev', 'x\r\nImpersonate-User: admin'], extra: {} }],
    ['NUL in group', { username: 'alice', groups: ['\u0000'], extra: {} }],
    ['CR in uid', { username: 'alice', uid: 'u\r', groups: [], extra: {} }],
    ['LF in extra value', { username: 'alice', groups: [], extra: { scopes: ['ok', 'bad\n'] } }],
    ['empty username', { username: '', groups: ['dev'], extra: {} }],
  ];
  for (const [name, user] of bad) {
    t.throws(() => outgoingHeaders({ host: 'kube.example.com' }, identity(user)), { code: 'IDENTITY_INVALID', status: 403 }, name);
  }
  t.doesNotThrow(() => outgoingHeaders({}, identity({ username: 'a', groups: [], extra: {} })), 'one-character username is fine');
});

t.test('errors are KubegateErrors', async (t) => {
  try {
    outgoingHeaders({}, identity({ username: '', groups: [], extra: {} }));
    t.fail('expected a throw');
  } catch (err) {
    t.type(err, KubegateError);
  }
});

// ---------------------------------------------------------------------------------------------
// What the API server receives: send the outgoing headers over a real socket and parse them again.

async function sendOverWire(t: Test, headers: OutgoingHttpHeaders): Promise<http.IncomingMessage> {
  const server = http.createServer();
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const received = new Promise<http.IncomingMessage>((resolve) => {
    server.once('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      resolve(req);
      res.writeHead(204, { connection: 'close' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const req = http.request({ host: '127.0.0.1', port, method: 'GET', path: '/api', headers, agent: false });
  req.on('response', (res) => res.resume());
  req.on('error', () => {});
  req.end();
  return received;
}

t.test('identity headers arrive unchanged at a real HTTP server', async (t) => {
  const user: UserInfo = {
    username: 'https://issuer.example.com#José',
    uid: 'u-1',
    groups: ['dev', 'b,c', 'グループ'],
    extra: { 'example.com/scopes': ['read', 'write'] },
  };
  const { headers } = outgoingHeaders({ host: 'kube.example.com', 'impersonate-user': 'admin', 'x-remote-user': 'admin', 'x-remote-group': 'system:masters' }, identity(user));
  const req = await sendOverWire(t, headers);
  t.notOk(Object.keys(req.headersDistinct).some((k) => k.startsWith('x-remote-')), 'no X-Remote-* header arrives');
  const utf8 = (s: string) => Buffer.from(s, 'latin1').toString('utf8');
  const got = (name: string) => (req.headersDistinct[name] ?? []).map(utf8);
  t.strictSame(got('impersonate-user'), [user.username]);
  t.strictSame(got('impersonate-uid'), ['u-1']);
  t.strictSame(got('impersonate-group'), user.groups, 'one header line per group; a comma inside a group survives');
  t.strictSame(got('impersonate-extra-example.com%2fscopes'), ['read', 'write']);
  t.strictSame(got('authorization'), [AUTH]);
  t.strictSame(got('x-forwarded-for'), [CLIENT_ADDRESS]);
  t.strictSame(
    Object.keys(req.headersDistinct).filter((k) => k.startsWith('impersonate-')).sort(),
    ['impersonate-extra-example.com%2fscopes', 'impersonate-group', 'impersonate-uid', 'impersonate-user'],
  );
});

t.test('leading/trailing whitespace in identity values is refused', async (t) => {
  // HTTP parsers (Node's llhttp here, Go's net/textproto in kube-apiserver) strip leading and trailing
  // spaces from header values. A value kubegate checked must be the value the API server sees:
  // " system:masters" would pass the system: check and arrive as "system:masters".
  const cases: [string, UserInfo][] = [
    ['group " system:masters"', { username: 'alice', groups: [' system:masters'], extra: {} }],
    ['username " system:admin"', { username: ' system:admin', groups: [], extra: {} }],
    ['username "alice "', { username: 'alice ', groups: [], extra: {} }],
    ['uid " u"', { username: 'alice', uid: ' u', groups: [], extra: {} }],
    ['extra value "\tx"', { username: 'alice', groups: [], extra: { k: ['x '] } }],
  ];
  for (const [name, user] of cases) {
    t.throws(() => outgoingHeaders({}, identity(user)), { code: 'IDENTITY_INVALID' }, name);
  }
});

// ---------------------------------------------------------------------------------------------
// clientIdentityHeaders: what a refused request records (it never reaches outgoingHeaders).

t.test('clientIdentityHeaders table', async (t) => {
  const table: [name: string, raw: string[], names: RequestHeaderNames, expected: { impersonation: string[]; requestHeaders: string[] }][] = [
    ['no identity headers', ['Host', 'kube.example.com', 'Accept', '*/*'], NONE, { impersonation: [], requestHeaders: [] }],
    [
      'case and repeats: each lower-cased name once, in order of first appearance',
      ['X-Remote-Group', 'a', 'Impersonate-User', 'x', 'x-remote-group', 'b', 'IMPERSONATE-USER', 'y', 'X-REMOTE-USER', 'z', 'Impersonate-Extra-K', 'v'],
      NONE,
      { impersonation: ['impersonate-user', 'impersonate-extra-k'], requestHeaders: ['x-remote-group', 'x-remote-user'] },
    ],
    [
      'prefixes and near misses',
      ['X-Remote-Extra-', '', 'x-remote-extra-a%2fb', '1', 'X-Remote-Extra', 'no', 'X-Remote-Users', 'no', 'Impersonate', 'no', 'Impersonate-', 'yes'],
      NONE,
      { impersonation: ['impersonate-'], requestHeaders: ['x-remote-extra-', 'x-remote-extra-a%2fb'] },
    ],
    [
      'configured names and prefixes, any case',
      ['x-FRONT-user', 'a', 'X-Front-Uid', 'b', 'x-front-groups', 'c', 'x-front-extra-team', 'd', 'X-Front-Group', 'not configured'],
      FRONT,
      { impersonation: [], requestHeaders: ['x-front-user', 'x-front-uid', 'x-front-groups', 'x-front-extra-team'] },
    ],
    [
      'names listed in Connection are reported like any other',
      ['Connection', 'X-Remote-User, Impersonate-Group', 'X-Remote-User', 'a', 'Impersonate-Group', 'b'],
      NONE,
      { impersonation: ['impersonate-group'], requestHeaders: ['x-remote-user'] },
    ],
  ];
  for (const [name, raw, names, expected] of table) t.strictSame(clientIdentityHeaders(raw, names), expected, name);
});

t.test('requestHeaderNames is required: a missing one is a TypeError naming it', async (t) => {
  const missing = { user: alice, authorization: AUTH, auditId: AUDIT_ID, clientAddress: CLIENT_ADDRESS } as unknown as OutgoingIdentity;
  t.throws(() => outgoingHeaders({ 'x-remote-user': 'admin' }, missing), { name: 'TypeError', message: /requestHeaderNames/ });
  t.throws(() => clientIdentityHeaders(['X-Remote-User', 'admin'], undefined as unknown as RequestHeaderNames), { name: 'TypeError', message: /requestHeaderNames/ });
});

t.test('HTTP/2 pseudo-headers, Host and Transfer-Encoding from the client are never forwarded (the upstream client frames and routes)', async (t) => {
  const { headers } = outgoingHeaders(
    { ':method': 'GET', ':path': '/api', ':authority': 'kubegate.example', ':scheme': 'https', host: 'evil.example', 'transfer-encoding': 'chunked', 'content-length': '5', accept: 'application/json' } as IncomingHttpHeaders,
    identity(alice),
  );
  t.same(Object.keys(headers).filter((n) => n.startsWith(':') || n === 'host' || n === 'transfer-encoding'), []);
  t.equal(headers['content-length'], '5', 'Content-Length stays: the upstream client enforces it');
  t.equal(headers.accept, 'application/json');
});

t.test('responseHeaders: the API server\'s connection headers and the names its Connection lists are not relayed', async (t) => {
  const upstream: IncomingHttpHeaders = {
    'content-type': 'application/json',
    connection: 'keep-alive, X-Hop',
    'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked',
    'proxy-connection': 'keep-alive',
    upgrade: 'h2c',
    'x-hop': 'secret',
    'audit-id': AUDIT_ID,
    'set-cookie': ['a=1', 'b=2'],
  };
  t.same(responseHeaders(upstream, { http2: true, draining: false }), { 'content-type': 'application/json', 'audit-id': AUDIT_ID, 'set-cookie': ['a=1', 'b=2'] });
  t.same(responseHeaders(upstream, { http2: false, draining: true }), { 'content-type': 'application/json', 'audit-id': AUDIT_ID, 'set-cookie': ['a=1', 'b=2'], connection: 'close' }, 'HTTP/1.1 while draining: Connection: close');
  t.same(responseHeaders(upstream, { http2: true, draining: true }), { 'content-type': 'application/json', 'audit-id': AUDIT_ID, 'set-cookie': ['a=1', 'b=2'] }, 'never a Connection header on HTTP/2');
});
