import t from 'tap';
import { tokenCacheKey } from '../../src/authn/token-cache.js';
import type { Authenticator } from '../../src/authn/authenticator.js';
import { KubegateError } from '../../src/errors/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { createAuthGuard } from '../../src/guard/auth-guard.js';

const base = ['--tls-cert-file', 'c', '--tls-private-key-file', 'k', '--oidc-issuer-url', 'https://login.example.com', '--oidc-client-id', 'kubernetes'];
const security = loadConfig([...base, '--auth-failure-limit-burst', '2'], {}).config.security;

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const sig = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff)).toString('base64url');
const jws = (low: number) => `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.${sig.slice(0, -1)}${B64URL[(B64URL.indexOf(sig.at(-1)!) & 0b110000) | low]}`;

/** An authenticator that refuses every token, recording what it was given. */
function refusing(): Authenticator & { calls: { token: string; fingerprint: string | undefined }[] } {
  const calls: { token: string; fingerprint: string | undefined }[] = [];
  return {
    calls,
    async authenticate(token, fingerprint) {
      calls.push({ token, fingerprint });
      throw new KubegateError('AUTHN_INVALID_TOKEN', 'token rejected: bad signature');
    },
    ready: () => true,
    whenReady: async () => {},
    keyStatus: () => ({ ready: true, stale: false }),
    close() {},
  };
}

t.test('the token is hashed once: the authenticator gets the guard\'s fingerprint (the token-cache key)', async (t) => {
  const authn = refusing();
  const guard = createAuthGuard(security, { now: () => 0 });
  await t.rejects(guard.authenticate(authn, () => jws(0), '192.0.2.1'), { code: 'AUTHN_INVALID_TOKEN' });
  t.same(authn.calls, [{ token: jws(0), fingerprint: tokenCacheKey(jws(0)) }]);
  t.notMatch(authn.calls[0]!.fingerprint!, jws(0).slice(-20), 'a hash, not the token');
});

t.test('every spelling of one signature drains one token bucket', async (t) => {
  const authn = refusing();
  const guard = createAuthGuard(security, { now: () => 0 });
  // Failures from different addresses, so only the token's own bucket can throttle.
  await t.rejects(guard.authenticate(authn, () => jws(0), '192.0.2.1'), { code: 'AUTHN_INVALID_TOKEN' });
  await t.rejects(guard.authenticate(authn, () => jws(1), '192.0.2.2'), { code: 'AUTHN_INVALID_TOKEN' });
  t.equal(authn.calls.length, 2);
  await t.rejects(guard.authenticate(authn, () => jws(7), '192.0.2.3'), { code: 'AUTHN_THROTTLED', status: 429, details: { throttledBy: 'token' } });
  t.equal(authn.calls.length, 2, 'a third spelling is throttled without being verified again');
  await t.rejects(guard.authenticate(authn, () => `${jws(0)}x`, '192.0.2.4'), { code: 'AUTHN_INVALID_TOKEN' }, 'another token is still verified');
  t.equal(authn.calls.length, 3);
});
