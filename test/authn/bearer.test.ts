/**
 * Where the client's token is read from (src/authn/bearer.ts). Requests are real: written byte for byte on
 * a socket and parsed by Node, so repeated headers reach bearerToken exactly as they reach kubegate.
 */
import t from 'tap';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { bearerToken, WEBSOCKET_TOKEN_PROTOCOL_PREFIX } from '../../src/authn/bearer.js';
import type { ErrorCode } from '../../src/errors/errors.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
const tokenProtocol = (token: string) => `${WEBSOCKET_TOKEN_PROTOCOL_PREFIX}${Buffer.from(token).toString('base64url')}`;

// One loopback server for the file: each raw request gets its own connection and resolves to Node's parse.
const server = http.createServer();
const pending: ((req: http.IncomingMessage) => void)[] = [];
const received = (req: http.IncomingMessage) => pending.shift()?.(req);
server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
  received(req);
  req.resume();
  res.writeHead(204, { connection: 'close' }).end();
});
server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
  received(req);
  socket.destroy();
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
t.teardown(() => {
  server.closeAllConnections();
  server.close();
});
const { port } = server.address() as AddressInfo;

/** GET / with these header lines (case and repeats as written), parsed by Node. */
function parse(lines: string[]): Promise<http.IncomingMessage> {
  return new Promise((resolve) => {
    pending.push(resolve);
    const socket = net.connect(port, '127.0.0.1', () => socket.write(['GET /api/v1/namespaces/default/pods HTTP/1.1', 'Host: kube.example.com', ...lines, '', ''].join('\r\n')));
    socket.resume();
    socket.on('error', () => {});
    t.teardown(() => socket.destroy());
  });
}

const WEBSOCKET = ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];

type Expect = { token: string } | { code: ErrorCode };
const cases: [name: string, lines: string[], websocket: boolean, expect: Expect][] = [
  // The Authorization header: the same on every request.
  ['plain request, Authorization: Bearer', [`Authorization: Bearer ${TOKEN}`], false, { token: TOKEN }],
  ['websocket upgrade, Authorization: Bearer', [...WEBSOCKET, `Authorization: Bearer ${TOKEN}`], true, { token: TOKEN }],
  ['scheme in any case, extra spaces', [`AUTHORIZATION: bEaReR   ${TOKEN}  `], false, { token: TOKEN }],
  ['Basic credentials', ['Authorization: Basic YWxpY2U6c2VjcmV0'], false, { code: 'AUTHN_MALFORMED_HEADER' }],
  ['two Authorization headers (Node keeps only the first in headers)', [`Authorization: Bearer ${TOKEN}`, 'authorization: Bearer other'], false, { code: 'AUTHN_MALFORMED_HEADER' }],
  ['no credentials at all', [], false, { code: 'AUTHN_MISSING_TOKEN' }],
  ['websocket upgrade without credentials', [...WEBSOCKET], true, { code: 'AUTHN_MISSING_TOKEN' }],

  // The subprotocol: only on a WebSocket upgrade, as kube-apiserver reads it.
  ['plain GET with only the token subprotocol', [`Sec-WebSocket-Protocol: ${tokenProtocol(TOKEN)}`], false, { code: 'AUTHN_MISSING_TOKEN' }],
  [
    'plain GET with the token subprotocol among others',
    [`Sec-WebSocket-Protocol: v5.channel.k8s.io, ${tokenProtocol(TOKEN)}`],
    false,
    { code: 'AUTHN_MISSING_TOKEN' },
  ],
  [
    'plain GET with the upgrade headers but not classified as a WebSocket upgrade',
    ['Upgrade: websocket', `Sec-WebSocket-Protocol: ${tokenProtocol(TOKEN)}`],
    false,
    { code: 'AUTHN_MISSING_TOKEN' },
  ],
  ['plain GET with two token subprotocols (not read, so not malformed)', [`Sec-WebSocket-Protocol: ${tokenProtocol('a')}, ${tokenProtocol('b')}`], false, { code: 'AUTHN_MISSING_TOKEN' }],
  ['websocket upgrade with the token subprotocol', [...WEBSOCKET, `Sec-WebSocket-Protocol: v5.channel.k8s.io, ${tokenProtocol(TOKEN)}`], true, { token: TOKEN }],
  ['websocket upgrade, subprotocol header repeated (Node joins them)', [...WEBSOCKET, 'Sec-WebSocket-Protocol: v5.channel.k8s.io', `Sec-WebSocket-Protocol: ${tokenProtocol(TOKEN)}`], true, { token: TOKEN }],
  ['websocket upgrade: Authorization wins over the subprotocol', [...WEBSOCKET, `Authorization: Bearer ${TOKEN}`, `Sec-WebSocket-Protocol: ${tokenProtocol('other')}`], true, { token: TOKEN }],
  ['websocket upgrade with two token subprotocols', [...WEBSOCKET, `Sec-WebSocket-Protocol: ${tokenProtocol('a')}, ${tokenProtocol('b')}`], true, { code: 'AUTHN_MALFORMED_HEADER' }],
  ['websocket upgrade with an empty token subprotocol', [...WEBSOCKET, `Sec-WebSocket-Protocol: ${WEBSOCKET_TOKEN_PROTOCOL_PREFIX}`], true, { code: 'AUTHN_MALFORMED_HEADER' }],
];

t.test('bearerToken', async (t) => {
  for (const [name, lines, websocket, expect] of cases) {
    t.test(name, async (t) => {
      const req = await parse(lines);
      if ('token' in expect) t.equal(bearerToken(req, { websocket }), expect.token);
      else t.throws(() => bearerToken(req, { websocket }), { code: expect.code, status: 401 });
    });
  }
});

t.test('websocket is required: a missing one is a TypeError naming it', async (t) => {
  const req = await parse([`Authorization: Bearer ${TOKEN}`]);
  t.throws(() => bearerToken(req, undefined as unknown as { websocket: boolean }), { name: 'TypeError', message: /websocket/ });
  t.throws(() => bearerToken(req, {} as { websocket: boolean }), { name: 'TypeError', message: /websocket/ });
});
