/** A port already in use stops start-up with LISTEN_FAILED naming the address (not a config error). */
import t from 'tap';
import { join } from 'node:path';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { silentLogger } from '../../src/log/logger.js';
import { startKubegate } from '../../src/server/server.js';
import { startHarness } from '../support/harness.js';

t.test('listen failures', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const serving = h.pki.server();
  const config = (server: Record<string, unknown>) =>
    validateConfigOrThrow({
      server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile, ...server },
      oidc: { issuerUrl: h.issuer.issuer, clientId: h.issuer.clientId, caFile: h.issuer.caFile },
      upstream: { kubeconfig: join(h.pki.dir, 'upstream.kubeconfig') },
      audit: { logPath: join(h.pki.dir, 'listen-audit.log') },
    });
  await t.rejects(startKubegate(config({ securePort: h.kubegate.port }), { log: silentLogger() }), {
    code: 'LISTEN_FAILED',
    message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${h.kubegate.port}: the address is already in use`),
  });
  const metricsPort = new URL(h.kubegate.metricsUrl!).port;
  await t.rejects(startKubegate(config({ metricsBindAddress: `127.0.0.1:${metricsPort}` }), { log: silentLogger() }), {
    code: 'LISTEN_FAILED',
    message: new RegExp(`cannot listen for metrics on 127\\.0\\.0\\.1:${metricsPort} \\(--metrics-bind-address\\): the address is already in use`),
  });
  t.equal((await h.send('/healthz')).status, 200, 'the running kubegate is unaffected');
});
