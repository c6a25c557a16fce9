/**
 * Configuration hot reload as Kubernetes delivers it: `kubegate serve --config dir/config.yaml` where the
 * directory is laid out like a mounted ConfigMap (`config.yaml → ..data/config.yaml`, `..data → ..<ts>`),
 * updated by the kubelet's atomic symlink swap. A new claim mapping takes effect on the next request; an
 * invalid file is refused with the running configuration kept and a metric counted; a changed listen
 * port is reported as needing a restart. Waits are on kubegate's own log lines, never on sleeps.
 */
import t from 'tap';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import YAML from 'yaml';
import { scrape, value } from '../support/metrics.js';
import { serveWorld, spawnServe } from '../support/serve-child.js';
import { within } from '../support/wait.js';

t.test('config hot reload through a ConfigMap-style symlink swap', async (t) => {
  const { pki, issuer, kubeconfig, serving } = await serveWorld(t);
  const config = (groupsPrefix: string, extra: Record<string, unknown> = {}) =>
    YAML.stringify({
      server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '127.0.0.1:0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
      oidc: { issuerUrl: issuer.issuer, clientId: issuer.clientId, caFile: issuer.caFile, usernameClaim: 'email', groupsClaim: 'groups', groupsPrefix },
      upstream: { kubeconfig },
      audit: { logPath: join(pki.dir, 'audit.log') },
      ...extra,
    });
  // The kubelet's layout and update: write a new timestamped dir, point ..data_tmp at it, rename over ..data.
  const dir = join(pki.dir, 'configmap');
  mkdirSync(dir);
  let generation = 0;
  const publish = (content: string) => {
    const versioned = `..2026_11_27_${++generation}`;
    mkdirSync(join(dir, versioned));
    writeFileSync(join(dir, versioned, 'config.yaml'), content);
    symlinkSync(versioned, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  publish(config('first:'));
  symlinkSync('..data/config.yaml', join(dir, 'config.yaml'));

  const serve = spawnServe(t, ['--config', join(dir, 'config.yaml')]);
  const logged = async (pattern: RegExp, count: number, what: string) => ({ input: await serve.logged(pattern, what, count) });
  const { child, exited } = serve;
  await logged(/oidc issuer ready/, 1, 'the issuer keys');
  const serveLine = await logged(/"message":"kubegate serving"/, 1, 'the listen address');
  const port = /"address":"127\.0\.0\.1:(\d+)"/.exec(serveLine.input)![1]!;
  const metricsUrl = /"metrics":"(http:[^"]+)\/metrics"/.exec(serveLine.input)![1]!;
  const token = await issuer.mintIdToken({ sub: 'r', claims: { email: 'reload@example.com', email_verified: true, groups: ['ops'] } });
  const groups = () =>
    new Promise<string[]>((resolve, reject) => {
      const body = '{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1"}';
      request(`https://127.0.0.1:${port}/apis/authentication.k8s.io/v1/selfsubjectreviews`, { method: 'POST', ca: pki.ca, agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve((JSON.parse(text) as { status: { userInfo: { groups: string[] } } }).status.userInfo.groups));
      })
        .on('error', reject)
        .end(body);
    });
  t.same(await groups(), ['first:ops', 'system:authenticated'], 'the first mapping');

  publish(config('second:'));
  await logged(/configuration reloaded: new identity settings in force/, 1, 'the new mapping to take over');
  t.same(await groups(), ['second:ops', 'system:authenticated'], 'the next request uses the new mapping');

  publish('oidc: [this is not a mapping\n');
  await logged(/configuration change refused/, 1, 'the invalid file to be refused');
  t.same(await groups(), ['second:ops', 'system:authenticated'], 'the running configuration stays');
  const metrics = await scrape(metricsUrl);
  t.equal(value(metrics, 'kubegate_config_reloads_total{result="refused"}'), 1);
  t.equal(value(metrics, 'kubegate_config_reloads_total{result="applied"}'), 1);

  publish(config('second:').replace('securePort: 0', 'securePort: 18443'));
  const restart = await logged(/take effect only after a restart/, 1, 'the port change to be reported');
  t.match(restart.input, /"server"/, 'named as needing a restart');
  t.same(await groups(), ['second:ops', 'system:authenticated'], 'still serving on the same port');

  child.kill('SIGTERM');
  t.equal(await within(exited, 20_000, 'kubegate to exit'), 0);
});
