import t from 'tap';
import { loadConfig } from '../../src/config/load.js';

const base = ['--tls-cert-file', 'c', '--tls-private-key-file', 'k', '--oidc-issuer-url', 'https://login.example.com', '--oidc-client-id', 'kubernetes'];
const problems = (args: string[]) => {
  try {
    loadConfig([...base, ...args], {});
    return '';
  } catch (err) {
    return (err as Error).message;
  }
};

t.test('defaults: rate limiting on, lifetime and MFA off, no trusted proxies', async (t) => {
  const { config } = loadConfig(base, {});
  t.same(config.security.authFailureLimit, { enabled: true, perMinute: 20, burst: 10, maxTrackedKeys: 100_000 });
  t.equal(config.security.maxTokenLifetime, 0);
  t.same(config.security.requiredAmr, []);
  t.same(config.security.trustedProxies, []);
  t.same(config.security.connections, { maxTotal: 20_000, maxPerAddress: 0, headersTimeoutSeconds: 30, requestTimeoutSeconds: 300 });
});

t.test('flags and environment variables set the policies', async (t) => {
  const { config } = loadConfig(
    [...base, '--max-token-lifetime', '1h30m', '--required-amr', 'mfa,hwk', '--trusted-proxies', '10.0.0.0/8,fd00::/8,192.168.1.1', '--auth-failure-limit-burst', '5', '--auth-failure-rate-limit=false'],
    { KUBEGATE_MAX_CONNECTIONS_PER_ADDRESS: '50' },
  );
  t.equal(config.security.maxTokenLifetime, 5400);
  t.same(config.security.requiredAmr, ['mfa', 'hwk']);
  t.same(config.security.trustedProxies, ['10.0.0.0/8', 'fd00::/8', '192.168.1.1']);
  t.equal(config.security.authFailureLimit.burst, 5);
  t.equal(config.security.authFailureLimit.enabled, false);
  t.equal(config.security.connections.maxPerAddress, 50);
  t.equal(loadConfig([...base, '--max-token-lifetime', '43200'], {}).config.security.maxTokenLifetime, 43200, 'plain seconds');
});

t.test('bad values are named with their setting and flag', async (t) => {
  t.match(problems(['--max-token-lifetime', '12 hours']), /security\.maxTokenLifetime \(--max-token-lifetime\): must be a duration like 12h/);
  t.match(problems(['--trusted-proxies', '10.0.0.0/33']), /security\.trustedProxies\.0 \(--trusted-proxies\): must be an address range/);
  t.match(problems(['--trusted-proxies', 'proxy.example.com']), /must be an address range/);
  t.match(problems(['--auth-failure-limit-burst', 'ten']), /security\.authFailureLimit\.burst \(--auth-failure-limit-burst\): must be a whole number, not "ten"/);
  t.match(problems(['--client-header-timeout-seconds', '60', '--client-request-timeout-seconds', '30']), /requestTimeoutSeconds must be 0 or at least headersTimeoutSeconds/);
});
