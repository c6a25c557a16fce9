/**
 * The two ways to configure the authenticator, as the config schema sees them: the oidc: section or
 * authentication.configFile, never both, never neither; the sign-in page needs the oidc: section.
 */
import t from 'tap';
import { validateConfig } from '../../src/config/validate.js';

const server = { tlsCertFile: '/c', tlsPrivateKeyFile: '/k' };
const oidc = { issuerUrl: 'https://login.example.com', clientId: 'kubegate' };
const issues = (raw: unknown) => {
  const r = validateConfig(raw);
  return r.ok ? [] : r.issues;
};

t.test('one source of issuers', async (t) => {
  const file = validateConfig({ server, authentication: { configFile: '/etc/kubegate/authn.yaml' } });
  t.ok(file.ok, 'the file alone');
  if (file.ok) t.equal(file.config.oidc, undefined, 'no oidc section');
  const flags = validateConfig({ server, oidc });
  t.ok(flags.ok, 'the oidc section alone');
  if (flags.ok) t.equal(flags.config.authentication.configFile, undefined);
  t.same(issues({ server }), ['oidc.issuerUrl (--oidc-issuer-url): is required', 'oidc.clientId (--oidc-client-id): is required'], 'neither: the oidc settings are named');
  t.match(issues({ server, oidc, authentication: { configFile: '/f' } }), [/^authentication\.configFile \(--authentication-config\): cannot be combined with the oidc section or --oidc-\* flags/]);
  t.match(issues({ server, authentication: { configFile: '' } }), [/^authentication\.configFile \(--authentication-config\): must not be empty/]);
  t.match(issues({ server, authentication: { configFile: '/f' }, loginPage: { enabled: true, publicUrl: 'https://kubegate.example.com' } }), [/^loginPage\.enabled \(--login-page\): the sign-in page needs the oidc section/]);
});
