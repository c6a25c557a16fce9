/**
 * `kubectl --as` through kubegate, end to end: real kubectl, a real OIDC provider, the recording fake API
 * server answering SubjectAccessReviews from a small table (test/support/fake-rbac.ts). The classic sudo
 * pattern: alice may impersonate the user devops-admin (and the group ops), nothing else.
 */
import t from 'tap';
import { startHarness, SA_TOKEN } from '../support/harness.js';
import { installFakeRbac, SAR_PATH } from '../support/fake-rbac.js';
import { head, rawExchange, startExtraKubegate } from '../support/streaming.js';

const ALICE = { email: 'alice@example.com', email_verified: true, groups: ['dev'] };
const WHOAMI = ['auth', 'whoami', '-o', 'json'];

t.test('kubectl --as, checked by SubjectAccessReview', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const rbac = installFakeRbac(h.fake);
  rbac.allow({ user: 'alice@example.com', verb: 'impersonate', apiGroup: '', resource: 'users', name: 'devops-admin' });
  rbac.allow({ user: 'alice@example.com', verb: 'impersonate', apiGroup: '', resource: 'groups', name: 'ops' });
  rbac.allow({ group: 'dev', verb: 'impersonate', apiGroup: '', resource: 'serviceaccounts', namespace: 'ci', name: 'deployer' });
  rbac.allow({ user: 'alice@example.com', verb: 'impersonate', apiGroup: 'authentication.k8s.io', resource: 'uids', name: 'u-42' });
  rbac.allow({ user: 'alice@example.com', verb: 'impersonate', apiGroup: 'authentication.k8s.io', resource: 'userextras', subresource: 'scopes', name: 'view' });
  const alice = await h.issuer.mintIdToken({ sub: 'alice', claims: ALICE });
  const forwarded = () => h.fake.requests.filter((q) => !q.url.startsWith(SAR_PATH) && q.url !== '/readyz');

  t.test('allowed: the request runs as the target, and the API server learns who really acted', async (t) => {
    const r = await h.kubectl([...WHOAMI, '--as', 'devops-admin', '--as-group', 'ops', '--as-uid', 'u-42'], alice);
    t.equal(r.code, 0, r.stderr);
    const info = (JSON.parse(r.stdout) as { status: { userInfo: { username: string; uid?: string; groups: string[]; extra?: Record<string, string[]> } } }).status.userInfo;
    t.equal(info.username, 'devops-admin');
    t.equal(info.uid, 'u-42');
    t.same(info.groups, ['ops', 'system:authenticated']);
    t.same(info.extra?.['kubegate.io/original-username'], ['alice@example.com']);
    t.same(info.extra?.['kubegate.io/original-groups'], ['dev']);
    const sent = forwarded().at(-1)!;
    t.same(sent.all('impersonate-user'), ['devops-admin'], 'one Impersonate-User: the target');
    t.same(sent.all('authorization'), [`Bearer ${SA_TOKEN}`], 'kubegate\'s own credential');
  });

  t.test('an allowed request in odd spellings: only the identity kubegate built reaches the API server', async (t) => {
    const ex = await rawExchange(h.kubegate.port, h.pki.ca, head([
      'GET /api/v1/namespaces/default/pods HTTP/1.1',
      'Host: x',
      `Authorization: Bearer ${alice}`,
      'iMpErSoNaTe-UsEr: devops-admin',
      'IMPERSONATE-GROUP: ops',
      'Connection: close, Impersonate-User, Impersonate-Group',
    ]));
    await ex.closed;
    t.match(ex.received().toString(), /^HTTP\/1\.1 200 /);
    const sent = forwarded().at(-1)!;
    t.same(sent.all('impersonate-user'), ['devops-admin']);
    t.same(sent.all('impersonate-group'), ['ops']);
    t.same(sent.rawHeaders.filter(([n]) => /^impersonate-/i.test(n)).map(([n]) => n.toLowerCase()).sort(), ['impersonate-extra-kubegate.io%2foriginal-groups', 'impersonate-extra-kubegate.io%2foriginal-username', 'impersonate-group', 'impersonate-user']);
    t.same(sent.all('authorization'), [`Bearer ${SA_TOKEN}`]);
  });

  t.test('one review per requested attribute, about the authenticated person; then cached', async (t) => {
    const before = rbac.reviews.length;
    const r = await h.kubectl(['get', 'pods', '--as', 'devops-admin', '--as-group', 'ops'], alice);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /hello/);
    t.equal(rbac.reviews.length, before, 'the answers of the previous test are reused (allowed answers are cached)');
    rbac.allow({ user: 'alice2@example.com', verb: 'impersonate', apiGroup: '', resource: 'users', name: 'devops-admin' });
    rbac.allow({ user: 'alice2@example.com', verb: 'impersonate', apiGroup: '', resource: 'groups', name: 'ops' });
    const fresh = await h.issuer.mintIdToken({ sub: 'alice2', claims: { ...ALICE, email: 'alice2@example.com' } });
    await h.kubectl([...WHOAMI, '--as', 'devops-admin', '--as-group', 'ops'], fresh);
    const asked = rbac.reviews.slice(before);
    t.same(asked.map((s) => `${s.resourceAttributes.resource}/${s.resourceAttributes.name}`), ['users/devops-admin', 'groups/ops'], 'another person: reviewed afresh, one review per attribute');
    t.equal(asked[0]?.user, 'alice2@example.com');
    t.same(asked[0]?.groups, ['dev', 'system:authenticated']);
  });

  t.test('denied: 403 naming the refused attribute, nothing forwarded', async (t) => {
    for (const args of [['--as', 'root'], ['--as', 'devops-admin', '--as-group', 'system:masters']]) {
      const before = forwarded().length;
      const r = await h.kubectl(['get', 'pods', ...args], alice);
      t.not(r.code, 0);
      t.match(r.stderr, args.includes('root') ? /users "root" is forbidden: User "alice@example.com" cannot impersonate resource "users"/ : /groups "system:masters" is forbidden/);
      t.equal(forwarded().length, before, 'nothing reached the API server');
    }
  });

  t.test('a service account, an extra value', async (t) => {
    const r = await h.kubectl([...WHOAMI, '--as', 'system:serviceaccount:ci:deployer'], alice);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /system:serviceaccount:ci:deployer/);
    const review = rbac.reviews.find((s) => s.resourceAttributes.resource === 'serviceaccounts');
    t.same(review?.resourceAttributes, { verb: 'impersonate', group: '', resource: 'serviceaccounts', namespace: 'ci', name: 'deployer' });
    const ok = await h.send('/version', { headers: [['Authorization', `Bearer ${alice}`], ['Impersonate-User', 'devops-admin'], ['Impersonate-Extra-Scopes', 'view']] });
    t.equal(ok.status, 200);
    const denied = await h.send('/version', { headers: [['Authorization', `Bearer ${alice}`], ['Impersonate-User', 'devops-admin'], ['Impersonate-Extra-Scopes', 'admin']] });
    t.equal(denied.status, 403);
    t.match(denied.body, /userextras\/scopes/);
  });

  t.test('groups without a user: 400 Status (kube-apiserver answers a plain-text 500)', async (t) => {
    const before = forwarded().length;
    const r = await h.send('/version', { headers: [['Authorization', `Bearer ${alice}`], ['Impersonate-Group', 'system:masters']] });
    t.equal(r.status, 400);
    t.match(JSON.parse(r.body), { kind: 'Status', code: 400, message: /without Impersonate-User/ });
    t.equal(forwarded().length, before);
  });

  t.test('an upgrade with --as: exec runs as the target', async (t) => {
    let seen: string[] = [];
    h.fake.upgradeRoute('/api/v1/namespaces/default/pods/hello/exec', (req, socket, _head, rec) => {
      seen = rec.all('impersonate-user');
      socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n');
    });
    const ex = await rawExchange(h.kubegate.port, h.pki.ca, head(['POST /api/v1/namespaces/default/pods/hello/exec?command=id HTTP/1.1', 'Host: x', `Authorization: Bearer ${alice}`, 'Impersonate-User: devops-admin', 'Connection: Upgrade', 'Upgrade: SPDY/3.1']));
    await ex.waitFor((b) => b.includes('\r\n\r\n'), 'the 101');
    t.match(ex.received().toString(), /^HTTP\/1\.1 101 /);
    t.same(seen, ['devops-admin']);
    ex.socket.destroy();
    const denied = await rawExchange(h.kubegate.port, h.pki.ca, head(['POST /api/v1/namespaces/default/pods/hello/exec?command=id HTTP/1.1', 'Host: x', `Authorization: Bearer ${alice}`, 'Impersonate-User: root', 'Connection: Upgrade', 'Upgrade: SPDY/3.1']));
    await denied.closed;
    t.match(denied.received().toString(), /^HTTP\/1\.1 403 /);
  });

  t.test('the authorizer unreachable: 503, never allowed', async (t) => {
    rbac.down = true;
    t.teardown(() => void (rbac.down = false));
    const r = await h.send('/version', { headers: [['Authorization', `Bearer ${alice}`], ['Impersonate-User', 'someone-new']] });
    t.equal(r.status, 503);
    t.match(JSON.parse(r.body), { kind: 'Status', code: 503 });
  });

  t.test('client impersonation switched off: 403 naming the setting, never silently dropped', async (t) => {
    const extra = await startExtraKubegate(h, { impersonation: { allowClientImpersonation: false } });
    t.teardown(() => extra.close());
    const r = await extra.send('/version', { headers: [['Authorization', `Bearer ${alice}`], ['Impersonate-User', 'devops-admin']] });
    t.equal(r.status, 403);
    t.match(JSON.parse(r.body).message, /--allow-client-impersonation=false/);
    t.equal((await extra.send('/version', { headers: [['Authorization', `Bearer ${alice}`]] })).status, 200, 'without --as the person is served as before');
  });

  t.test('the audit record names the person and the target', async (t) => {
    const records = await h.stopAndReadAudit();
    const asAdmin = records.find((e) => e.impersonatedUser?.username === 'devops-admin' && e.responseStatus.code === 201);
    t.equal(asAdmin?.user.username, 'alice@example.com', 'user: the person');
    t.equal(asAdmin?.impersonatedUser?.username, 'devops-admin', 'impersonatedUser: the target');
    const refused = records.find((e) => e.annotations?.['kubegate.io/error'] === 'IMPERSONATION_DENIED');
    t.equal(refused?.responseStatus.code, 403);
    t.equal(refused?.annotations?.['kubegate.io/forwarded'], 'false');
    t.same(h.fake.violations, [], 'no request without kubegate\'s credential, none forwarded without Impersonate-User, no review impersonating');
  });
});
