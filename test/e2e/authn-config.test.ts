/**
 * kubegate serving with --authentication-config (authentication.configFile): two issuers on loopback (a
 * corporate IdP for people, a CI issuer for pipelines), real kubectl, the recording fake API server. The
 * file is reloaded when it changes: a valid new file takes over, an invalid one is refused and logged
 * while the old one keeps serving. A garbage token is 401 while every issuer is down.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { startKubegate } from '../../src/server/server.js';
import { startFakeApiServer } from '../support/fake-apiserver.js';
import { KUBECTL, kubeconfigYaml, sendTo, SA_TOKEN } from '../support/harness.js';
import { startJwksIssuer, type JwksIssuer } from '../support/jwks-issuer.js';
import { captureLogger } from '../support/logs.js';
import { createPki } from '../support/pki.js';
import { eventually, within } from '../support/wait.js';

const indent = (pem: string, n: number) => pem.trim().split('\n').map((l) => `${' '.repeat(n)}${l}`).join('\n');

function authConfig(ca: string, corp: JwksIssuer, ci: JwksIssuer, groupPrefix: string): string {
  return `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
- issuer:
    url: ${corp.issuer}
    audiences: [kubegate]
    certificateAuthority: |
${indent(ca, 6)}
  claimValidationRules:
  - expression: 'claims.?email_verified.orValue(false)'
    message: the email must be verified
  claimMappings:
    username: {expression: 'claims.email'}
    groups: {expression: 'claims.?groups.orValue([]).map(g, "${groupPrefix}" + g)'}
    extra:
    - key: corp.example.com/department
      valueExpression: 'claims.?department.orValue("")'
  userValidationRules:
  - expression: "!user.username.startsWith('system:')"
    message: 'username cannot use the reserved system: prefix'
- issuer:
    url: ${ci.issuer}
    audiences: [kubegate]
    certificateAuthority: |
${indent(ca, 6)}
  claimMappings:
    username: {expression: '"ci:" + claims.repository'}
    groups: {expression: '["ci:pipelines"]'}
`;
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

t.test('kubegate with an AuthenticationConfiguration file', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const corp = await startJwksIssuer({ pki });
  const ci = await startJwksIssuer({ pki });
  t.teardown(() => corp.close());
  t.teardown(() => ci.close());
  const corpKey = await corp.addKey('corp-1');
  const ciKey = await ci.addKey('ci-1');
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: SA_TOKEN });
  t.teardown(() => fake.close());
  const upstream = join(pki.dir, 'upstream.kubeconfig');
  writeFileSync(upstream, kubeconfigYaml(fake.url, pki.caFile, SA_TOKEN));
  const file = join(pki.dir, 'authentication-config.yaml');
  writeFileSync(file, authConfig(pki.ca, corp, ci, 'corp:'));
  const serving = pki.server();
  const config = validateConfigOrThrow({
    server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
    authentication: { configFile: file },
    upstream: { kubeconfig: upstream },
    audit: { logPath: join(pki.dir, 'audit.log') },
  });
  const { log, lines } = captureLogger();
  const kubegate = await startKubegate(config, { log });
  t.teardown(() => kubegate.close());
  await within(kubegate.ready(), 10_000, 'an issuer to be ready');
  const send = (token: string, path = '/api/v1/namespaces/default/pods') => sendTo(kubegate.url, pki.ca, path, { headers: [['Authorization', `Bearer ${token}`]] });
  const lastSeen = () => fake.requests.at(-1)!;

  const alice = await corp.sign(corpKey, { email: 'alice@example.com', email_verified: true, groups: ['dev'], department: 'R&D' });
  const pipeline = await ci.sign(ciKey, { repository: 'acme/shop' });

  t.test('a person from the corporate IdP, through real kubectl', async (t) => {
    const kc = join(pki.dir, 'alice.kubeconfig');
    writeFileSync(kc, kubeconfigYaml(kubegate.url, pki.caFile, alice));
    const r = await run(KUBECTL, ['--kubeconfig', kc, 'auth', 'whoami', '-o', 'json']);
    t.equal(r.code, 0, r.stderr);
    const seen = fake.requests.find((q) => q.url.includes('selfsubjectreviews'))!;
    t.same(seen.all('impersonate-user'), ['alice@example.com']);
    t.same(seen.all('impersonate-group'), ['corp:dev']);
    t.same(seen.all('impersonate-extra-corp.example.com%2fdepartment'), ['R&D']);
  });

  t.test('a pipeline from the CI issuer', async (t) => {
    const res = await send(pipeline);
    t.equal(res.status, 200, res.body);
    t.same(lastSeen().all('impersonate-user'), ['ci:acme/shop']);
    t.same(lastSeen().all('impersonate-group'), ['ci:pipelines']);
  });

  t.test('refusals: rules of the file, unknown issuer, garbage', async (t) => {
    const before = fake.requests.length;
    const unverified = await corp.sign(corpKey, { email: 'eve@example.com', email_verified: false });
    const system = await corp.sign(corpKey, { email: 'system:admin', email_verified: true });
    for (const token of [unverified, system, 'garbage']) {
      const res = await send(token);
      t.equal(res.status, 401);
      t.match(JSON.parse(res.body), { kind: 'Status', code: 401, message: 'Unauthorized' }, 'the client learns nothing more');
    }
    t.equal(fake.requests.length, before, 'nothing forwarded');
  });

  t.test('a valid new file takes over without a restart', async (t) => {
    writeFileSync(file, authConfig(pki.ca, corp, ci, 'people:'));
    await eventually('the new mapping', async () => {
      const fresh = await corp.sign(corpKey, { email: 'alice@example.com', email_verified: true, groups: ['dev'] });
      const res = await send(fresh);
      return res.status === 200 && lastSeen().all('impersonate-group')[0] === 'people:dev' ? true : undefined;
    }, 15_000);
    t.ok(lines.some((l) => /authentication configuration reloaded/.test(l.message)), 'logged');
  });

  t.test('an invalid new file is refused and logged; the current one keeps serving', async (t) => {
    writeFileSync(file, authConfig(pki.ca, corp, ci, 'people:').replace("username: {expression: 'claims.email'}", 'username: {claim: email}'));
    const refused = await eventually('the refusal in the log', () => lines.find((l) => /authentication configuration refused/.test(l.message)), 15_000);
    t.match(String(refused.error), /jwt\[0\]\.claimMappings\.username\.prefix: required when claim is set/, 'the log names the field');
    const fresh = await corp.sign(corpKey, { email: 'bob@example.com', email_verified: true, groups: ['ops'] });
    const res = await send(fresh);
    t.equal(res.status, 200);
    t.same(lastSeen().all('impersonate-group'), ['people:ops'], 'the last valid file is still in force');
  });

  t.test('both identity providers failing: garbage and foreign tokens are still 401 at once', async (t) => {
    // (Every issuer down from the start, 503 for their tokens, is test/authn/multi-issuer.test.ts.)
    corp.setMode('fail');
    ci.setMode('fail');
    corp.setDiscoveryMode('fail');
    ci.setDiscoveryMode('fail');
    const res = await send('not-a-jwt');
    t.equal(res.status, 401);
    const foreign = await send(`${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from('{"iss":"https://elsewhere.example.com"}').toString('base64url')}.c2ln`);
    t.equal(foreign.status, 401, 'a token of an issuer not configured');
  });

  t.test('a kubegate started while every issuer is down: garbage 401 at once, issuers\' tokens 503, not ready', async (t) => {
    await t.rejects(startKubegate(config, { log: captureLogger().log }), { code: 'CONFIG_INVALID', message: /jwt\[0\]\.claimMappings\.username\.prefix: required when claim is set/ }, 'start-up refuses the invalid file still in place');
    writeFileSync(file, authConfig(pki.ca, corp, ci, 'people:'));
    const second = await startKubegate(config, { log: captureLogger().log });
    t.teardown(() => second.close());
    const to = (token: string, path = '/api/v1/namespaces/default/pods') => sendTo(second.url, pki.ca, path, { headers: [['Authorization', `Bearer ${token}`]] });
    t.equal((await to('garbage')).status, 401);
    const res = await to(await corp.sign(corpKey, { email: 'alice@example.com', email_verified: true }));
    t.equal(res.status, 503);
    t.match(JSON.parse(res.body), { kind: 'Status', code: 503 });
    t.equal((await sendTo(second.url, pki.ca, '/readyz')).status, 503, '/readyz: no issuer can verify yet');
  });
});
