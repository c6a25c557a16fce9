/**
 * upstream/kube-config.ts: client-node's KubeConfig loads without the package's generated API clients (the
 * bulk of its memory and start-up time), and the API clients still work with it when a path loads them.
 * Fails first if a client-node upgrade makes config.js need more from its generated-code barrel.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { createPki } from '../support/pki.js';

t.test('KubeConfig loads without the generated API clients; an API client loaded later works with it', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const serving = pki.server();
  const reviews: unknown[] = [];
  const server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      reviews.push({ method: req.method, url: req.url, authorization: req.headers.authorization, body: JSON.parse(body) as unknown });
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: {}, status: { allowed: true, reason: 'test says yes' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfigFile = join(pki.dir, 'kubeconfig');
  writeFileSync(
    kubeconfigFile,
    ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: c', `  cluster: {server: "${url}", certificate-authority: "${pki.caFile}"}`, 'users:', '- name: u', '  user: {token: kube-config-test-token}', 'contexts:', '- name: x', '  context: {cluster: c, user: u}', 'current-context: x', ''].join('\n'),
  );

  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'kube-config-child.ts')], { env: { ...process.env, KUBECONFIG_FILE: kubeconfigFile, LOADED_FILE: join(pki.dir, 'loaded.txt') } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const r = JSON.parse(out) as { server: string; authorization: string; hasCa: boolean; beforeReview: string[]; afterReview: string[]; decision: unknown };
  t.equal(r.server, url, 'the kubeconfig is loaded by client-node');
  t.equal(r.authorization, 'Bearer kube-config-test-token', "client-node applies the user's token");
  t.ok(r.hasCa, "and the cluster's CA");
  const generated = (urls: string[]) => urls.filter((u) => /@kubernetes\/client-node\/dist\/gen\/(index|models\/|apis\/|types\/)/.test(u));
  t.same(generated(r.beforeReview), [], 'no generated API client or model was loaded for KubeConfig');
  t.ok(r.beforeReview.some((u) => u.endsWith('/@kubernetes/client-node/dist/config.js')), 'KubeConfig came from client-node itself');
  t.ok(generated(r.afterReview).length > 100, 'the review loaded the generated clients');
  t.same(r.decision, { allowed: true, reason: 'test says yes' }, "the API client made the review with the KubeConfig's credential");
  t.match(reviews, [{ method: 'POST', url: '/apis/authorization.k8s.io/v1/subjectaccessreviews', authorization: 'Bearer kube-config-test-token', body: { kind: 'SubjectAccessReview', spec: { user: 'jane' } } }]);
});
