/**
 * `kubegate check-config` as a user runs it (bin/kubegate in a child process): with the example
 * AuthenticationConfiguration it validates and prints the file's issuers; with --oidc-* flags it prints
 * the equivalent AuthenticationConfiguration; an invalid file or both sources at once exit 1 naming the field.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { resolveAuthenticationConfiguration } from '../../src/authn/auth-config.js';
import { createPki } from '../support/pki.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function kubegate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(KUBEGATE_|KUBERNETES_SERVICE_|TAP|_TAPJS_)/.test(name) || name === 'KUBECONFIG' || name === 'NODE_OPTIONS') continue;
    env[name] = value;
  }
  return new Promise((resolve) => {
    execFile('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(REPO, 'bin', 'kubegate'), ...args], { cwd: REPO, env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** The AuthenticationConfiguration check-config printed. */
const printed = (stdout: string) => YAML.parse(stdout.slice(stdout.indexOf('\n', stdout.indexOf('# effective AuthenticationConfiguration')), stdout.indexOf('# effective configuration'))) as { jwt: { issuer: { url: string } }[] };

t.test('check-config and the AuthenticationConfiguration', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const serving = pki.server();
  const upstream = join(pki.dir, 'upstream.kubeconfig');
  writeFileSync(upstream, YAML.stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://api.cluster.example.com:6443', 'certificate-authority': pki.caFile } }],
    users: [{ name: 'u', user: { token: 'upstream-token-not-printed' } }],
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }], 'current-context': 'c',
  }));
  const common = ['--tls-cert-file', serving.certFile, '--tls-private-key-file', serving.keyFile, '--kubeconfig', upstream];

  const example = YAML.parse(readFileSync(join(REPO, 'examples/authentication-config.yaml'), 'utf8')) as unknown;
  t.ok(resolveAuthenticationConfiguration(example, { allowSystemNames: false }).ok, 'examples/authentication-config.yaml is valid');

  const r = await kubegate(['check-config', '--config', 'examples/config-authentication.yaml', ...common]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /authn: +2 issuer\(s\) from examples\/authentication-config\.yaml: https:\/\/login\.example\.com, https:\/\/token\.actions\.githubusercontent\.com/);
  t.same(printed(r.stdout), example, 'the file, printed back');

  const flags = await kubegate(['check-config', ...common, '--oidc-issuer-url', 'https://login.example.com', '--oidc-client-id', 'kubernetes', '--oidc-username-claim', 'sub', '--oidc-groups-claim', 'groups', '--oidc-groups-prefix', 'oidc:']);
  t.equal(flags.code, 0, flags.stderr);
  t.match(printed(flags.stdout), {
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'AuthenticationConfiguration',
    jwt: [{ issuer: { url: 'https://login.example.com', audiences: ['kubernetes'] }, claimMappings: { username: { claim: 'sub', prefix: 'https://login.example.com#' }, groups: { claim: 'groups', prefix: 'oidc:' } } }],
  }, 'the --oidc-* flags as the equivalent AuthenticationConfiguration');

  const both = await kubegate(['check-config', ...common, '--authentication-config', 'examples/authentication-config.yaml', '--oidc-issuer-url', 'https://login.example.com', '--oidc-client-id', 'k']);
  t.equal(both.code, 1);
  t.match(both.stderr, /authentication\.configFile \(--authentication-config\): cannot be combined with the oidc section or --oidc-\* flags/);

  const bad = join(pki.dir, 'bad.yaml');
  writeFileSync(bad, readFileSync(join(REPO, 'examples/authentication-config.yaml'), 'utf8').replace('key: corp.example.com/department', 'key: Department'));
  const invalid = await kubegate(['check-config', ...common, '--authentication-config', bad]);
  t.equal(invalid.code, 1);
  t.match(invalid.stderr, /jwt\[0\]\.claimMappings\.extra\[0\]\.key: key must be lowercase/);
});
