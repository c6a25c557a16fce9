/**
 * The `revocation` settings (src/config/schema.ts): off when absent; a store and admins required; bad
 * input named by its path, never a silent default.
 */
import t from 'tap';
import { validateConfig } from '../../src/config/validate.js';

const minimal = () => ({
  server: { tlsCertFile: '/etc/kubegate/tls.crt', tlsPrivateKeyFile: '/etc/kubegate/tls.key' },
  oidc: { issuerUrl: 'https://issuer.example.com', clientId: 'kubegate' },
});
const issues = (revocation: unknown, more: Record<string, unknown> = {}) => {
  const r = validateConfig({ ...minimal(), revocation, ...more });
  return r.ok ? [] : r.issues;
};

t.test('absent: off', async (t) => {
  const r = validateConfig(minimal());
  t.ok(r.ok && r.config.revocation === undefined);
});

t.test('a valid section, with the namespace defaulted', async (t) => {
  const r = validateConfig({ ...minimal(), revocation: { store: { type: 'kubernetes' }, admins: { groups: ['oidc:kubegate-admins'] } } });
  t.ok(r.ok, r.ok ? '' : r.issues.join('\n'));
  t.same(r.ok && r.config.revocation, { store: { type: 'kubernetes', namespace: 'kubegate' }, admins: { users: [], groups: ['oidc:kubegate-admins'] } });
});

t.test('bad input is named by its path', async (t) => {
  t.match(issues({ admins: { users: ['sam'] } }).join('\n'), /revocation\.store/);
  t.match(issues({ store: { type: 'file', path: '/x.json' } }).join('\n'), /revocation\.admins.*at least one user or group/);
  t.match(issues({ store: { type: 'file', path: '/x.json' }, admins: {} }).join('\n'), /revocation\.admins.*at least one user or group/);
  t.match(issues({ store: { type: 'etcd' }, admins: { users: ['sam'] } }).join('\n'), /revocation\.store/);
  t.match(issues({ store: { type: 'file', path: '/x.json' }, admins: { users: ['sam'] }, expireAfter: 3 }).join('\n'), /expireAfter/);
  const shared = issues({ store: { type: 'file', path: '/var/lib/kubegate/state.json' }, admins: { users: ['sam'] } }, {
    elevation: { store: { type: 'file', path: '/var/lib/kubegate/state.json' }, rules: [{ name: 'r', requesters: { users: ['a'] }, groups: ['g'], maxDurationSeconds: 600 }] },
  });
  t.match(shared.join('\n'), /revocation\.store\.path.*must not be the elevation store's file/);
});
