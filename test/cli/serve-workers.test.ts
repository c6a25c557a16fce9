/**
 * `kubegate serve --workers 2` as a user runs it (bin/kubegate in a child process): both workers serve
 * on one port, requests are authenticated and forwarded, every request is audited once, and SIGTERM
 * stops everything with exit 0.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { scrape, value } from '../support/metrics.js';
import { serveWorld, spawnServe } from '../support/serve-child.js';

t.test('serve --workers 2', async (t) => {
  const { pki, issuer, fake, baseFlags } = await serveWorld(t);
  const auditFile = join(pki.dir, 'audit.log');
  const serve = spawnServe(t, ['--workers', '2', ...baseFlags, '--metrics-bind-address', '127.0.0.1:0', '--audit-log-path', auditFile]);
  // Two workers each log "oidc issuer ready" once their keys are loaded, and "kubegate serving" with the address.
  await serve.logged(/oidc issuer ready/, 'both workers\' issuer keys', 2);
  await serve.logged(/"message":"kubegate serving"/, 'both workers listening', 2);
  const ports = new Set(serve.log().split('\n').filter((l) => l.includes('kubegate serving')).map((l) => /"address":"127\.0\.0\.1:(\d+)"/.exec(l)?.[1]));
  const log = serve.log();
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
  serve.child.kill('SIGTERM');
  t.equal(await serve.exited, 0, 'SIGTERM stops the primary and its workers');
  const records = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { requestURI: string; user: { username?: string } });
  t.equal(records.filter((r) => r.requestURI === '/version').length, N, 'one audit record per request, whichever worker served it');
  t.ok(records.every((r) => r.user.username === 'worker-test@example.com'));
});
