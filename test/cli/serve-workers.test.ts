/**
 * `kubegate serve --workers 2` as a user runs it (bin/kubegate in a child process): both workers serve
 * on one port, requests are authenticated and forwarded, every request is audited once, and SIGTERM
 * stops everything with exit 0.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeApiServer } from '../support/fake-apiserver.js';
import { scrape, value } from '../support/metrics.js';
import { kubeconfigYaml, SA_TOKEN } from '../support/harness.js';
import { startTestIssuer } from '../support/oidc-issuer.js';
import { createPki } from '../support/pki.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

t.test('serve --workers 2', async (t) => {
  const pki = createPki();
  const issuer = await startTestIssuer({ pki });
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: SA_TOKEN });
  t.teardown(async () => {
    await fake.close();
    await issuer.close();
    pki.cleanup();
  });
  const kubeconfig = join(pki.dir, 'upstream.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(fake.url, pki.caFile, SA_TOKEN));
  const serving = pki.server();
  const auditFile = join(pki.dir, 'audit.log');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(KUBEGATE_|TAP|_TAPJS_|NODE_OPTIONS$)/.test(k)));
  // env -u: tap re-adds its NODE_OPTIONS coverage hook to children, which cannot load the ESM bin file.
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(REPO, 'bin/kubegate'), 'serve', '--workers', '2',
    '--bind-address', '127.0.0.1', '--secure-port', '0', '--metrics-bind-address', '127.0.0.1:0', '--tls-cert-file', serving.certFile, '--tls-private-key-file', serving.keyFile,
    '--oidc-issuer-url', issuer.issuer, '--oidc-client-id', issuer.clientId, '--oidc-ca-file', issuer.caFile, '--oidc-username-claim', 'email',
    '--kubeconfig', kubeconfig, '--audit-log-path', auditFile], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let log = '';
  const ports = await new Promise<Set<string>>((resolve, reject) => {
    const seen = new Set<string>();
    const pids = new Set<string>();
    child.stderr!.on('data', (c: Buffer) => {
      log += c.toString();
      for (const line of log.split('\n')) {
        if (!line.includes('oidc issuer ready') && !line.includes('kubegate serving')) continue;
        const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(line);
        if (m) seen.add(m[1]!);
      }
      // two workers each log "oidc issuer ready" once their keys are loaded
      const ready = log.split('\n').filter((l) => l.includes('oidc issuer ready')).length;
      if (ready >= 2 && seen.size > 0) resolve(seen);
      void pids;
    });
    child.on('exit', () => reject(new Error(`serve exited early:\n${log}`)));
  });
  t.equal(ports.size, 1, 'both workers share one port');
  const port = [...ports][0]!;
  const token = await issuer.mintIdToken({ sub: 'w', claims: { email: 'worker-test@example.com' } });
  const N = 12;
  const statuses = await Promise.all(
    Array.from({ length: N }, () =>
      new Promise<number>((resolve, reject) => {
        request(`https://127.0.0.1:${port}/version`, { ca: pki.ca, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject).end();
      }),
    ),
  );
  t.same(statuses, Array(N).fill(200));
  t.equal(fake.requests.filter((q) => q.url === '/version').length, N, 'every request reached the API server');
  t.same(fake.violations, []);
  const metricsUrl = /"message":"metrics for every worker"[^\n]*"url":"(http:[^"]+)\/metrics"/.exec(log)?.[1] ?? /"url":"(http:[^"]+)\/metrics"[^\n]*"message":"metrics for every worker"/.exec(log)?.[1];
  t.ok(metricsUrl, 'the primary serves /metrics');
  const text = await scrape(metricsUrl!);
  t.equal(value(text, 'kubegate_requests_total{verb="get",resource="",code="200",outcome="completed"}'), N, 'the requests of both workers, summed');
  t.equal(value(text, 'kubegate_jwks_fetches_total{result="ok"}'), 2, 'one key-set load per worker');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops the primary and its workers');
  const records = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { requestURI: string; user: { username?: string } });
  t.equal(records.filter((r) => r.requestURI === '/version').length, N, 'one audit record per request, whichever worker served it');
  t.ok(records.every((r) => r.user.username === 'worker-test@example.com'));
});
