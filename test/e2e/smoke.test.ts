import t from 'tap';
import { startHarness } from '../support/harness.js';

t.test('kubectl auth whoami through kubegate', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const token = await h.issuer.mintIdToken({ sub: 'u1', claims: { email: 'alice@example.com', email_verified: true, groups: ['dev', 'ops'] } });
  const r = await h.kubectl(['auth', 'whoami', '-o', 'json'], token);
  t.equal(r.code, 0, r.stderr);
  console.log(r.stdout, r.stderr, h.logs.join(''));
});
