/**
 * `npm run demo`: kubegate in one minute, on loopback only.
 *
 * Starts a DEVELOPMENT identity provider (a real OpenID provider with a test-only token grant — never
 * reachable from `kubegate serve`), kubegate in front of either the cluster of your current kubeconfig
 * (when one is set and reachable) or a clearly labelled built-in STAND-IN API server, then prints a
 * kubeconfig and a fresh ID token for a demo user so real kubectl shows the mapped identity.
 *
 * Env: KUBEGATE_DEMO_PORT (default 8443, falls back to a free port), KUBECONFIG (the cluster to use),
 * KUBEGATE_DEMO_STANDIN=1 (always use the stand-in), KUBEGATE_LOG_LEVEL (default info: a refused token's
 * reason shows in the log), KUBEGATE_DEMO_CHURN_MS (how often the stand-in adds a pod, default 4000).
 *
 * The development issuer is oidc-provider, which prints "Unsupported runtime" on Node.js releases older
 * than 22 LTS. It works on Node 20.19+ for this demo, and `kubegate serve` never loads it, so the demo
 * replaces that line with one saying so (see quietIssuerRuntimeWarning).
 */
import { writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { writeNewFile } from '../../src/login/kubeconfig.js';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import { startKubegate, type RunningKubegate } from '../../src/server/server.js';
import { loadUpstream } from '../../src/upstream/upstream.js';
import { startFakeApiServer } from '../../test/support/fake-apiserver.js';
import { installFakeRbac } from '../../test/support/fake-rbac.js';
import { createPki } from '../../test/support/pki.js';
import { installStandIn } from './standin.js';

const STANDIN_TOKEN = 'demo-standin-service-account-token';
const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * oidc-provider warns at import on Node.js < 22 LTS, and at start that its login form (devInteractions)
 * is for development only. Both are about the demo's development issuer, not kubegate: swallow exactly
 * those lines and return the note the banner prints instead (the banner already labels the issuer).
 */
async function quietIssuerRuntimeWarning<T>(load: () => Promise<T>): Promise<{ module: T; note: string | undefined }> {
  const warn = console.warn;
  let note: string | undefined;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) {
      note = `the development issuer (oidc-provider) wants Node.js 22 LTS or later and warns on ${process.version}; it works here for the demo, and kubegate serve does not use it`;
      return;
    }
    if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: a quick start development-only feature devInteractions')) return;
    warn(...args);
  };
  try {
    return { module: await load(), note };
  } finally {
    console.warn = warn;
  }
}

/** A kubeconfig with one cluster and a static token (the test harness's, without importing the harness). */
function kubeconfigYaml(server: string, caFile: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: c',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caFile}`,
    'users:',
    '- name: u',
    `  user: {token: ${JSON.stringify(token)}}`,
    'contexts:',
    '- name: c',
    '  context: {cluster: c, user: u, namespace: default}',
    'current-context: c',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { module: issuerModule, note: runtimeNote } = await quietIssuerRuntimeWarning(() => import('../../test/support/oidc-issuer.js'));
  const { startTestIssuer } = issuerModule;
  const pki = createPki();
  // kubegate's port first: the sign-in page's redirect URI names it, and the issuer must know that URI.
  const port = await portOrFree(Number(process.env.KUBEGATE_DEMO_PORT ?? 8443));
  const publicUrl = `https://127.0.0.1:${port}`;
  const people = {
    jane: { email: 'jane@example.com', email_verified: true, name: 'Jane Demo', groups: ['developers', 'on-call'], amr: ['pwd', 'mfa'] },
    sam: { email: 'sam@example.com', email_verified: true, name: 'Sam Lead', groups: ['sre-leads'], amr: ['pwd', 'mfa'] },
  };
  const { module: issuer } = await quietIssuerRuntimeWarning(() => startTestIssuer({
    pki,
    idTokenTtlSeconds: 3600,
    interactive: { accounts: people, deviceFlow: true },
    loginPageClient: { clientId: 'kubegate-page', clientSecret: 'demo-page-secret', redirectUris: [`${publicUrl}/kubegate/login/callback`] },
  }));
  const pageSecretFile = join(pki.dir, 'page-client-secret');
  writeFileSync(pageSecretFile, 'demo-page-secret', { mode: 0o600 });
  const closers: (() => Promise<void> | void)[] = [() => issuer.close(), () => pki.cleanup()];

  const cluster = await reachableClusterKubeconfig();
  let upstreamKubeconfig: string;
  let upstreamLabel: string;
  const standIn = cluster.kubeconfig === undefined;
  if (cluster.kubeconfig !== undefined) {
    upstreamKubeconfig = cluster.kubeconfig;
    upstreamLabel = `your current cluster (${upstreamKubeconfig})`;
  } else {
    const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: STANDIN_TOKEN });
    const answers = installStandIn(fake, { churnMs: Number(process.env.KUBEGATE_DEMO_CHURN_MS ?? 4000) });
    closers.unshift(() => fake.close());
    closers.unshift(() => answers.close());
    // The stand-in's "RBAC": developers may impersonate the user devops-admin (kubectl --as devops-admin).
    installFakeRbac(fake).allow({ group: 'oidc:developers', verb: 'impersonate', apiGroup: '', resource: 'users', name: 'devops-admin' });
    upstreamKubeconfig = join(pki.dir, 'standin.kubeconfig');
    writeFileSync(upstreamKubeconfig, kubeconfigYaml(fake.url, pki.caFile, STANDIN_TOKEN));
    upstreamLabel = [
      `the built-in STAND-IN API server at ${fake.url}`,
      `                     (not a cluster: namespaces, pods that come and go, configmaps in memory, auth can-i from a small table)`,
      `                     why: ${cluster.why}`,
    ].join('\n');
  }

  const serving = pki.server();
  // info: a refused token's reason is logged (stderr), so a wrong token shows why.
  const log = createLogger(process.env.KUBEGATE_LOG_LEVEL ?? 'info');
  const config = validateConfigOrThrow({
      server: { bindAddress: '127.0.0.1', securePort: port, metricsBindAddress: '127.0.0.1:0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
      oidc: { issuerUrl: issuer.issuer, clientId: issuer.clientId, caFile: issuer.caFile, usernameClaim: 'email', groupsClaim: 'groups', groupsPrefix: 'oidc:' },
      upstream: { kubeconfig: upstreamKubeconfig },
      audit: { logPath: '-' },
      // The sign-in page: sign in at the development issuer, see your identity, download a kubeconfig.
      loginPage: {
        enabled: true,
        publicUrl,
        clientId: 'kubegate-page',
        clientSecretFile: pageSecretFile,
        scopes: ['openid', 'email', 'profile', 'groups'],
        kubeconfig: { certificateAuthorityFile: pki.caFile, command: join(REPO, 'bin', 'kubegate'), extraArgs: ['--certificate-authority', issuer.caFile] },
      },
      // Break-glass: on-call people may take break-glass:cluster-admin for 30 minutes, with a reason and a
      // fresh MFA login, once a second person (an SRE lead) approves. Grants live in a file for the demo.
      elevation: {
        store: { type: 'file', path: join(pki.dir, 'elevations.json') },
        rules: [
          {
            name: 'break-glass',
            requesters: { groups: ['oidc:on-call'] },
            groups: ['break-glass:cluster-admin'],
            maxDurationSeconds: 1800,
            minReasonLength: 8,
            mfa: { amr: ['mfa'] },
            maxAuthAgeSeconds: 3600,
            approvers: { groups: ['oidc:sre-leads'] },
          },
        ],
      },
    });
  const kubegate = await startKubegate(config, { log });
  closers.unshift(() => kubegate.close());
  await kubegate.ready();

  const loggedIn = { email_verified: true, amr: ['pwd', 'mfa'], auth_time: Math.floor(Date.now() / 1000) };
  const token = await issuer.mintIdToken({ sub: 'demo-user', claims: { ...loggedIn, email: 'jane@example.com', name: 'Jane Demo', groups: ['developers', 'on-call'] } });
  const kubeconfig = join(pki.dir, 'demo.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(kubegate.url, pki.caFile, token), { mode: 0o600 });
  const approverToken = await issuer.mintIdToken({ sub: 'demo-lead', claims: { ...loggedIn, email: 'sam@example.com', name: 'Sam Lead', groups: ['sre-leads'] } });
  const approverKubeconfig = join(pki.dir, 'approver.kubeconfig');
  writeFileSync(approverKubeconfig, kubeconfigYaml(kubegate.url, pki.caFile, approverToken), { mode: 0o600 });
  // As a real user would: a kubeconfig whose user runs `kubegate login` (browser sign-in, token cache).
  const loginKubeconfig = join(pki.dir, 'login.kubeconfig');
  writeNewFile(loginKubeconfig, {
    server: kubegate.url,
    certificateAuthority: { file: pki.caFile },
    clusterName: 'kubegate-demo',
    userName: 'kubegate-demo-oidc',
    contextName: 'kubegate-demo',
    execCommand: join(REPO, 'bin', 'kubegate'),
    plugin: { issuer: issuer.issuer, clientId: issuer.clientId, scopes: ['email', 'groups', 'offline_access'], caFile: issuer.caFile },
  });

  process.stdout.write(
    [
      '',
      'kubegate demo is running (loopback only). Ctrl-C stops it and removes its files.',
      `  kubegate:          ${kubegate.url}`,
      `  identity provider: ${issuer.issuer}  (DEVELOPMENT issuer, demo only)`,
      `  forwarding to:     ${upstreamLabel}`,
      '',
      'A kubeconfig pointing at kubegate, holding a fresh 1-hour ID token for jane@example.com:',
      `  ${kubeconfig}`,
      '',
      ...(runtimeNote ? [`Note: ${runtimeNote}.`, ''] : []),
      'Try:',
      `  kubectl --kubeconfig ${kubeconfig} auth whoami`,
      `  kubectl --kubeconfig ${kubeconfig} get ns`,
      `  kubectl --kubeconfig ${kubeconfig} get pods -A`,
      ...(standIn
        ? [
            `  kubectl --kubeconfig ${kubeconfig} get pods -w                      # the stand-in adds and deletes a pod every few seconds`,
            `  kubectl --kubeconfig ${kubeconfig} auth can-i create configmaps`,
            `  kubectl --kubeconfig ${kubeconfig} create configmap demo --from-literal=greeting=hello`,
            `  kubectl --kubeconfig ${kubeconfig} delete configmap demo`,
          ]
        : []),
      `  kubectl --kubeconfig ${kubeconfig} auth whoami --as devops-admin   # allowed by RBAC: sudo to devops-admin`,
      `  kubectl --kubeconfig ${kubeconfig} get --raw /api/v1/namespaces/default/pods --as root   # refused by RBAC (403)`,
      '',
      'Sign in as a real user would (at the development issuer\'s login form, type jane or sam; any password):',
      `  open ${kubegate.url}/kubegate/login in a browser              # the sign-in page: your identity, a kubeconfig`,
      `  kubectl --kubeconfig ${loginKubeconfig} auth whoami   # kubegate login opens your browser (--grant device: a code)`,
      '',
      'Break glass (jane asks, sam@example.com approves; both kubeconfigs hold 1-hour tokens):',
      `  bin/kubegate sudo --kubeconfig ${kubeconfig} --group break-glass:cluster-admin --for 15m --reason "INC-4211 demo"`,
      `  bin/kubegate elevations list --kubeconfig ${approverKubeconfig}`,
      `  bin/kubegate elevations approve <ID> --kubeconfig ${approverKubeconfig}`,
      `  kubectl --kubeconfig ${kubeconfig} auth whoami                      # now with break-glass:cluster-admin`,
      `  bin/kubegate elevations revoke <ID> --kubeconfig ${kubeconfig}`,
      '',
      'The ID token (a JWT; paste it into any JWT decoder to see its claims):',
      token,
      '',
      'Audit records (audit.k8s.io/v1 Events) follow on stdout, one per request:',
      '',
    ].join('\n'),
  );

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  for (const close of closers) await close();
}

/** `wanted` if nothing listens there, else a free port (the page's public URL must be known before start). */
function portOrFree(wanted: number): Promise<number> {
  const probe = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const bound = (server.address() as { port: number }).port;
        server.close(() => resolve(bound));
      });
    });
  return probe(wanted).catch(() => probe(0));
}

/** The current kubeconfig's cluster, if one is configured and answers kubegate's probe; else why not. */
async function reachableClusterKubeconfig(): Promise<{ kubeconfig: string; why?: undefined } | { kubeconfig?: undefined; why: string }> {
  if (process.env.KUBEGATE_DEMO_STANDIN === '1') return { why: 'KUBEGATE_DEMO_STANDIN=1 asks for it' };
  const path = process.env.KUBECONFIG?.split(':')[0] || join(homedir(), '.kube', 'config');
  if (!existsSync(path)) return { why: `no kubeconfig at ${path}${process.env.KUBECONFIG ? ' (KUBECONFIG)' : ''}` };
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    const current = kc.getCurrentCluster();
    if (!current) return { why: `${path} has no current context with a cluster` };
    const upstream = await loadUpstream({ kubeconfig: path, probeAtStart: false }, silentLogger());
    const ok = await upstream.probe(2000);
    const reason = upstream.probeReason();
    upstream.close();
    return ok ? { kubeconfig: path } : { why: `the cluster ${current.name} (${current.server}) of ${path} is not usable: ${reason ?? 'no answer'}` };
  } catch (err) {
    return { why: `${path} cannot be used: ${(err as Error).message}` };
  }
}

await main();
