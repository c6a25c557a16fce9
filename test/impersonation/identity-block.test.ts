import t from 'tap';
import { freezeUser, type UserInfo } from '../../src/identity/user.js';
import { hasIdentityBlock, identityBlock } from '../../src/impersonation/identity-block.js';
import { impersonationHeaders, outgoingHeaders } from '../../src/impersonation/headers.js';

const alice = (): UserInfo => ({ username: 'oidc:alice', uid: 'u-1', groups: ['oidc:dev', 'oidc:ops'], extra: { 'example.com/Team Name': ['payments'] } });
const names = { usernameHeaders: [], uidHeaders: [], groupHeaders: [], extraHeadersPrefixes: [] };
const send = (user: UserInfo) => outgoingHeaders({ host: 'x', 'impersonate-user': 'mallory' }, { user, authorization: 'Bearer sa', auditId: 'a', clientAddress: '127.0.0.1', requestHeaderNames: names }).headers;

t.test('a cached (frozen) identity: its headers are built once and sent unchanged on every request', async (t) => {
  const user = freezeUser(alice());
  t.ok(Object.isFrozen(user.groups) && Object.isFrozen(user.extra) && Object.isFrozen(user.extra['example.com/Team Name']), 'deep-frozen');
  let builds = 0;
  const build = (u: UserInfo) => (builds++, impersonationHeaders(u));
  const first = identityBlock(user, build);
  t.equal(identityBlock(user, build), first, 'the same block');
  t.equal(builds, 1, 'built once');
  t.same(first, impersonationHeaders(alice()), 'the headers a per-request build makes');
  t.ok(Object.isFrozen(first) && Object.isFrozen(first['impersonate-group']), 'frozen, so no request can change the next one\'s');
  t.same(send(user), send(alice()), 'outgoingHeaders: identical to an unfrozen identity\'s');
  t.equal(send(user)['impersonate-user'], 'oidc:alice', 'the client\'s Impersonate-User never wins');
});

t.test('an identity made for one request (grants, --as) is built every time and not remembered', async (t) => {
  const cached = freezeUser(alice());
  identityBlock(cached, impersonationHeaders);
  const elevated: UserInfo = { ...cached, groups: [...cached.groups, 'break-glass'] };
  let builds = 0;
  const build = (u: UserInfo) => (builds++, impersonationHeaders(u));
  t.same(identityBlock(elevated, build)['impersonate-group'], ['oidc:dev', 'oidc:ops', 'break-glass'], 'the elevated groups, not the cached block');
  identityBlock(elevated, build);
  t.equal(builds, 2);
  t.notOk(hasIdentityBlock(elevated));
  t.same(send(elevated)['impersonate-group'], ['oidc:dev', 'oidc:ops', 'break-glass']);
  t.same(send(cached)['impersonate-group'], ['oidc:dev', 'oidc:ops'], 'the cached block is untouched');
});

t.test('an identity that cannot be sent is refused on every request, never remembered', async (t) => {
  const bad = freezeUser({ username: 'oidc:eve', groups: ['ok', 'bad\nname'], extra: {} });
  for (let i = 0; i < 2; i++) t.throws(() => send(bad), { code: 'IDENTITY_INVALID' });
  t.notOk(hasIdentityBlock(bad));
});
