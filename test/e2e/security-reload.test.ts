/**
 * `security.*` changes apply on reload without a restart (connections excepted), and the failure limiter
 * keeps what it knows across a reload that does not change its own settings.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { startKubegate } from '../../src/server/server.js';
import { kubeconfigYaml, sendTo, SA_TOKEN, startHarness } from '../support/harness.js';

t.test('security settings reload', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const kubeconfig = join(h.pki.dir, 'reload-upstream.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(h.fake.url, h.pki.caFile, SA_TOKEN));
  const serving = h.pki.server();
  const configWith = (security: Record<string, unknown>) =>
    validateConfigOrThrow({
      server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
      oidc: { issuerUrl: h.issuer.issuer, clientId: h.issuer.clientId, caFile: h.issuer.caFile, usernameClaim: 'email' },
      upstream: { kubeconfig },
      audit: { logPath: join(h.pki.dir, 'reload-audit.log') },
      security,
    });
  const log = winston.createLogger({ transports: [new winston.transports.Stream({ stream: new Writable({ write: (_c, _e, cb) => cb() }) })] });
  const clock = 5_000_000;
  const k = await startKubegate(configWith({ authFailureLimit: { burst: 3 } }), { log, guard: { now: () => clock } });
  t.teardown(() => k.close());
  await k.ready();
  const now = Math.floor(Date.now() / 1000);
  const base = { iss: h.issuer.issuer, aud: h.issuer.clientId, sub: 'a', email: 'a@example.com' };
  const long = await h.issuer.signWithProviderKey({ ...base, iat: now, exp: now + 7200 });
  const send = (token: string) => sendTo(k.url, h.pki.ca, '/api/v1/namespaces/default/pods', { headers: [['Authorization', `Bearer ${token}`]] });

  t.equal((await send(long)).status, 200, 'no lifetime limit yet');
  const lifetime = { authFailureLimit: { burst: 3 }, maxTokenLifetime: '1h' };
  t.same(k.reload(configWith(lifetime)), { applied: ['security'], needsRestart: [] });
  t.equal((await send(long)).status, 401, 'the lifetime limit applies at once (failure 1 of 3)');
  t.equal((await send('x.y.z')).status, 401);
  t.equal((await send('x.y.q')).status, 401);
  t.equal((await send('x.y.w')).status, 429, 'burst 3 spent');

  t.same(k.reload(configWith({ ...lifetime, trustedProxies: ['192.0.2.1'] })).applied, ['security']);
  t.equal((await send('x.y.v')).status, 429, 'the limiter kept its state across an unrelated change');

  t.same(k.reload(configWith({ ...lifetime, connections: { maxPerAddress: 3 } })).needsRestart, ['security.connections'], 'connection settings need a restart');
  k.reload(configWith({ ...lifetime, authFailureLimit: { burst: 4 } }));
  t.equal((await send('x.y.u')).status, 401, 'new limiter settings start afresh');
});
