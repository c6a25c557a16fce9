import t from 'tap';
import { join } from 'node:path';
import { validateConfig, validateConfigOrThrow } from '../../src/config/validate.js';
import { loadConfig } from '../../src/config/load.js';
import { flagForPath } from '../../src/config/flags.js';
import { SUPPORTED_SIGNING_ALGS } from '../../src/config/schema.js';
import { KubegateError } from '../../src/errors/errors.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** The smallest valid raw configuration. */
const minimal = () => ({
  server: { tlsCertFile: '/etc/kubegate/tls.crt', tlsPrivateKeyFile: '/etc/kubegate/tls.key' },
  oidc: { issuerUrl: 'https://issuer.example.com', clientId: 'kubegate' },
});

const minimalYaml = `server:
  tlsCertFile: /etc/kubegate/tls.crt
  tlsPrivateKeyFile: /etc/kubegate/tls.key
oidc:
  issuerUrl: https://issuer.example.com
  clientId: from-file
`;

const minimalFlags = [
  '--tls-cert-file', '/etc/kubegate/tls.crt',
  '--tls-private-key-file', '/etc/kubegate/tls.key',
  '--oidc-issuer-url', 'https://issuer.example.com',
  '--oidc-client-id', 'kubegate',
];

/** Config paths named by issues (`path (--flag): message`, `a, b: unknown settings`). */
function pathsOf(issues: readonly string[]): string[] {
  return issues.flatMap((issue) => {
    const end = issue.search(/ \(|: /);
    return (end < 0 ? issue : issue.slice(0, end)).split(', ');
  });
}

function issuesOf(t: Test, raw: unknown): string[] {
  const result = validateConfig(raw);
  if (result.ok) {
    t.fail('expected validation issues', { config: result.config });
    return [];
  }
  return result.issues;
}

/** Run loadConfig expecting CONFIG_INVALID; return the issues listed in the error. */
function loadIssues(t: Test, argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  let thrown: unknown;
  try {
    loadConfig(argv, env);
  } catch (err) {
    thrown = err;
  }
  if (!(thrown instanceof KubegateError)) {
    t.fail('expected a KubegateError', { thrown });
    return [];
  }
  t.equal(thrown.code, 'CONFIG_INVALID');
  const issues = thrown.message.split('\n').slice(1).map((line) => line.replace(/^ {2}- /, ''));
  t.equal(thrown.details.issues, issues.length, 'details.issues counts the listed issues');
  return issues;
}

/** Every issue whose path has a flag names that flag. */
function assertFlagsNamed(t: Test, issues: readonly string[]) {
  for (const issue of issues) {
    const [path] = pathsOf([issue]);
    const flag = path === undefined ? undefined : flagForPath(path);
    if (flag !== undefined) t.match(issue, `(${flag})`, `${path} names ${flag}`);
  }
}

t.test('defaults are applied', async (t) => {
  const result = validateConfig(minimal());
  t.equal(result.ok, true);
  if (!result.ok) return;
  const c = result.config;
  t.equal(c.server.securePort, 8443);
  t.equal(c.server.bindAddress, '0.0.0.0');
  t.equal(c.oidc!.usernameClaim, 'sub');
  t.strictSame(c.oidc!.signingAlgs, ['RS256']);
  t.equal(c.oidc!.usernamePrefix, undefined, 'username prefix stays unset (mapClaims derives <issuer>#)');
  t.equal(c.oidc!.groupsPrefix, '');
  t.equal(c.oidc!.clockSkewSeconds, 10);
  t.strictSame(c.oidc!.extraClaims, {});
  t.strictSame(c.oidc!.requiredClaims, {});
  t.equal(c.identity.allowSystemNames, false);
  t.equal(c.audit.logPath, '-');
  t.equal(c.upstream.kubeconfig, undefined);
  t.strictSame(
    c.impersonation.requestHeader,
    { usernameHeaders: [], uidHeaders: [], groupHeaders: [], extraHeadersPrefixes: [] },
    'no requestheader names beyond the X-Remote-* defaults hygiene always strips',
  );

  const loaded = loadConfig(minimalFlags, {});
  t.strictSame(loaded.config, c, 'loadConfig from flags yields the same defaults');
});

t.test('explicit values are kept, not replaced by defaults', async (t) => {
  const raw = minimal();
  const c = validateConfigOrThrow({
    ...raw,
    server: { ...raw.server, securePort: 0, bindAddress: '127.0.0.1' },
    oidc: { ...raw.oidc, usernameClaim: 'email', signingAlgs: ['ES256', 'PS512'], usernamePrefix: '-' },
    audit: { logPath: '/var/log/kubegate/audit.log' },
    impersonation: { requestHeader: { usernameHeaders: ['X-Front-User'], groupHeaders: ['X-Front-Group', 'X-Front-Groups'], extraHeadersPrefixes: ['X-Front-Extra-'] } },
  });
  t.equal(c.server.securePort, 0, 'port 0 (pick a free port) is valid');
  t.equal(c.server.bindAddress, '127.0.0.1');
  t.equal(c.oidc!.usernameClaim, 'email');
  t.equal(c.oidc!.usernamePrefix, '-');
  t.strictSame(c.oidc!.signingAlgs, ['ES256', 'PS512']);
  t.equal(c.audit.logPath, '/var/log/kubegate/audit.log');
  t.strictSame(c.impersonation.requestHeader, {
    usernameHeaders: ['X-Front-User'],
    uidHeaders: [],
    groupHeaders: ['X-Front-Group', 'X-Front-Groups'],
    extraHeadersPrefixes: ['X-Front-Extra-'],
  });
});

t.test('every problem is reported at once, with its path and flag', async (t) => {
  const raw = { oidc: { issuerUrl: 'http://issuer.example.com' } };
  const issues = issuesOf(t, raw);
  t.equal(issues.length, 4, 'four issues');
  t.strictSame(pathsOf(issues).sort(), ['oidc.clientId', 'oidc.issuerUrl', 'server.tlsCertFile', 'server.tlsPrivateKeyFile']);
  assertFlagsNamed(t, issues);
  t.throws(() => validateConfigOrThrow(raw), { code: 'CONFIG_INVALID', details: { issues: 4 } });

  const dir = t.testdir({ 'kubegate.yaml': 'oidc:\n  issuerUrl: http://issuer.example.com\n' });
  const loaded = loadIssues(t, ['--config', join(dir, 'kubegate.yaml')]);
  t.equal(loaded.length, 4, 'loadConfig reports the same four issues');
  t.strictSame(pathsOf(loaded).sort(), ['oidc.clientId', 'oidc.issuerUrl', 'server.tlsCertFile', 'server.tlsPrivateKeyFile']);
});

t.test('invalid configurations name the offending path', async (t) => {
  const base = minimal();
  const withServer = (server: Record<string, unknown>) => ({ ...base, server: { ...base.server, ...server } });
  const withOidc = (oidc: Record<string, unknown>) => ({ ...base, oidc: { ...base.oidc, ...oidc } });
  const withRequestHeader = (requestHeader: Record<string, unknown>) => ({ ...base, impersonation: { requestHeader } });
  const rh = 'impersonation.requestHeader';
  const cases: [name: string, raw: unknown, paths: string[]][] = [
    ['empty config', {}, ['server.tlsCertFile', 'server.tlsPrivateKeyFile', 'oidc.issuerUrl', 'oidc.clientId']],
    ['unknown top-level key', { ...base, listen: ':8443' }, ['listen']],
    ['two unknown top-level keys', { ...base, listen: 1, port: 2 }, ['listen', 'port']],
    ['unknown server key', withServer({ port: 8443 }), ['server.port']],
    ['unknown oidc key (case typo)', withOidc({ clientID: 'x' }), ['oidc.clientID']],
    ['unknown identity key', { ...base, identity: { allowSystem: true } }, ['identity.allowSystem']],
    ['unknown audit key', { ...base, audit: { path: '-' } }, ['audit.path']],
    ['signing alg none', withOidc({ signingAlgs: ['none'] }), ['oidc.signingAlgs.0']],
    ['signing alg HS256', withOidc({ signingAlgs: ['HS256'] }), ['oidc.signingAlgs.0']],
    ['signing alg hs512 (lower case)', withOidc({ signingAlgs: ['hs512'] }), ['oidc.signingAlgs.0']],
    ['HS384 after a valid alg', withOidc({ signingAlgs: ['RS256', 'HS384'] }), ['oidc.signingAlgs.1']],
    ['unknown alg', withOidc({ signingAlgs: ['EdDSA-ish'] }), ['oidc.signingAlgs.0']],
    ['empty alg list', withOidc({ signingAlgs: [] }), ['oidc.signingAlgs']],
    ['http issuer', withOidc({ issuerUrl: 'http://issuer.example.com' }), ['oidc.issuerUrl']],
    ['issuer with query', withOidc({ issuerUrl: 'https://issuer.example.com/?tenant=a' }), ['oidc.issuerUrl']],
    ['issuer with fragment', withOidc({ issuerUrl: 'https://issuer.example.com/#x' }), ['oidc.issuerUrl']],
    ['issuer not a URL', withOidc({ issuerUrl: 'issuer.example.com' }), ['oidc.issuerUrl']],
    ['empty issuer', withOidc({ issuerUrl: '' }), ['oidc.issuerUrl']],
    ['empty client id', withOidc({ clientId: '' }), ['oidc.clientId']],
    ['username claim with a space', withOidc({ usernameClaim: 'preferred username' }), ['oidc.usernameClaim']],
    ['clock skew above 300', withOidc({ clockSkewSeconds: 301 }), ['oidc.clockSkewSeconds']],
    ['port as a string', withServer({ securePort: '8443' }), ['server.securePort']],
    ['port above 65535', withServer({ securePort: 65536 }), ['server.securePort']],
    ['negative port', withServer({ securePort: -1 }), ['server.securePort']],
    ['fractional port', withServer({ securePort: 84.43 }), ['server.securePort']],
    ['allowSystemNames as a string', { ...base, identity: { allowSystemNames: 'yes' } }, ['identity.allowSystemNames']],
    ['unknown impersonation key', { ...base, impersonation: { requestHeaders: {} } }, ['impersonation.requestHeaders']],
    ['unknown requestHeader key (kube-apiserver flag spelling)', withRequestHeader({ usernameHeader: ['X-User'] }), [`${rh}.usernameHeader`]],
    ['requestheader names as a string, not a list', withRequestHeader({ usernameHeaders: 'X-User' }), [`${rh}.usernameHeaders`]],
    ['requestheader name with a space', withRequestHeader({ usernameHeaders: ['X Front User'] }), [`${rh}.usernameHeaders.0`]],
    ['requestheader name with a colon', withRequestHeader({ groupHeaders: ['X-Ok', 'X-Group:'] }), [`${rh}.groupHeaders.1`]],
    ['empty requestheader name', withRequestHeader({ uidHeaders: [''] }), [`${rh}.uidHeaders.0`]],
    ['non-ASCII requestheader name', withRequestHeader({ usernameHeaders: ['X-Üser'] }), [`${rh}.usernameHeaders.0`]],
    ['requestheader name that is a number', withRequestHeader({ groupHeaders: [7] }), [`${rh}.groupHeaders.0`]],
    ['empty extra-headers prefix (would strip every header)', withRequestHeader({ extraHeadersPrefixes: [''] }), [`${rh}.extraHeadersPrefixes.0`]],
    ['prefix with a space', withRequestHeader({ extraHeadersPrefixes: ['X-Extra '] }), [`${rh}.extraHeadersPrefixes.0`]],
    ['Authorization as a username header (kubegate sets it)', withRequestHeader({ usernameHeaders: ['Authorization'] }), [`${rh}.usernameHeaders.0`]],
    ['Audit-Id as a uid header (kubegate sets it)', withRequestHeader({ uidHeaders: ['audit-id'] }), [`${rh}.uidHeaders.0`]],
    ['Impersonate-Group as a group header (kubegate sets it)', withRequestHeader({ groupHeaders: ['IMPERSONATE-GROUP'] }), [`${rh}.groupHeaders.0`]],
    ['Content-Length as a group header (framing)', withRequestHeader({ groupHeaders: ['Content-Length'] }), [`${rh}.groupHeaders.0`]],
    ['Host as a username header (framing)', withRequestHeader({ usernameHeaders: ['host'] }), [`${rh}.usernameHeaders.0`]],
    ['prefix covering X-Forwarded-For', withRequestHeader({ extraHeadersPrefixes: ['X-Forwarded-'] }), [`${rh}.extraHeadersPrefixes.0`]],
    ['prefix covering Content-Length', withRequestHeader({ extraHeadersPrefixes: ['Content-'] }), [`${rh}.extraHeadersPrefixes.0`]],
    ['prefix covering Impersonate-*', withRequestHeader({ extraHeadersPrefixes: ['Imp'] }), [`${rh}.extraHeadersPrefixes.0`]],
    ['prefix inside Impersonate-*', withRequestHeader({ extraHeadersPrefixes: ['Impersonate-Extra-'] }), [`${rh}.extraHeadersPrefixes.0`]],
  ];
  for (const [name, raw, paths] of cases) {
    t.test(name, async (t) => {
      const issues = issuesOf(t, raw);
      t.strictSame([...new Set(pathsOf(issues))].sort(), [...paths].sort());
      assertFlagsNamed(t, issues);
    });
  }
});

t.test('issue texts explain refused algorithms and unknown keys', async (t) => {
  const base = minimal();
  const [none] = issuesOf(t, { ...base, oidc: { ...base.oidc, signingAlgs: ['none'] } });
  t.match(none, /refused/);
  const [unknown] = issuesOf(t, { ...base, oidc: { ...base.oidc, clientID: 'x' } });
  t.match(unknown, /unknown setting/);
  const [missing] = issuesOf(t, { ...base, oidc: { issuerUrl: base.oidc.issuerUrl } });
  t.match(missing, /^oidc\.clientId \(--oidc-client-id\): is required$/);
  const [badName] = issuesOf(t, { ...base, impersonation: { requestHeader: { usernameHeaders: ['X Front User'] } } });
  t.match(badName, /^impersonation\.requestHeader\.usernameHeaders\.0 \(--requestheader-username-headers\): must be an HTTP header name/);
  const [reserved] = issuesOf(t, { ...base, impersonation: { requestHeader: { extraHeadersPrefixes: ['X-Forwarded-'] } } });
  t.match(reserved, /x-forwarded-for, which kubegate sets itself/);
});

t.test('valid variations are accepted', async (t) => {
  const base = minimal();
  for (const alg of SUPPORTED_SIGNING_ALGS) {
    t.equal(validateConfig({ ...base, oidc: { ...base.oidc, signingAlgs: [alg] } }).ok, true, `${alg} accepted`);
  }
  t.equal(validateConfig({ ...base, oidc: { ...base.oidc, issuerUrl: 'https://login.example.com/realms/k8s' } }).ok, true, 'issuer with a path');
  t.equal(validateConfig({ ...base, oidc: { ...base.oidc, issuerUrl: 'https://issuer.example.com:8443' } }).ok, true, 'issuer with a port');
  t.equal(validateConfig({ ...base, server: { ...base.server, securePort: 65535 } }).ok, true, 'port 65535');
  const requestHeader = { usernameHeaders: ['X-Remote-User', 'x_front.user~1'], uidHeaders: ['X-Front-Uid'], groupHeaders: ['X-Front-Group'], extraHeadersPrefixes: ['X-Remote-Extra-', 'x-front-extra-', 'X-Front'] };
  t.equal(validateConfig({ ...base, impersonation: { requestHeader } }).ok, true, 'requestheader names: the defaults repeated, token characters, prefixes');
  t.equal(validateConfig({ ...base, impersonation: {} }).ok, true, 'an empty impersonation section');
});

t.test('loadConfig: file, env and flags', async (t) => {
  const dir = t.testdir({
    'kubegate.yaml': minimalYaml + '  usernameClaim: email\nserver_typo: 1\n',
    'good.yaml': minimalYaml + '  usernameClaim: email\n  groupsClaim: groups\n',
    'ports.yaml': minimalYaml.replace('server:\n', 'server:\n  securePort: 8444\n'),
    'nested-unknown.yaml': minimalYaml + '  clientID: typo\nupstream:\n  kubeconfg: /x\n',
    'list.yaml': '- a\n- b\n',
    'empty.yaml': '',
  });
  const file = (name: string) => join(dir, name);

  t.test('file alone', async (t) => {
    const { config, sources } = loadConfig(['--config', file('good.yaml')], {});
    t.equal(config.oidc!.clientId, 'from-file');
    t.equal(config.oidc!.usernameClaim, 'email');
    t.equal(config.oidc!.groupsClaim, 'groups');
    t.ok(sources.includes(`file ${file('good.yaml')}`));
  });

  t.test('KUBEGATE_CONFIG names the file', async (t) => {
    const { config } = loadConfig([], { KUBEGATE_CONFIG: file('good.yaml') });
    t.equal(config.oidc!.clientId, 'from-file');
  });

  t.test('unknown keys in the file, top level and nested', async (t) => {
    t.strictSame(pathsOf(loadIssues(t, ['--config', file('kubegate.yaml')])), ['server_typo']);
    t.strictSame(pathsOf(loadIssues(t, ['--config', file('nested-unknown.yaml')])).sort(), ['oidc.clientID', 'upstream.kubeconfg']);
  });

  t.test('a file that is not a mapping, or missing, is CONFIG_INVALID naming the file', async (t) => {
    for (const name of ['list.yaml', 'missing.yaml']) {
      const issues = loadIssues(t, ['--config', file(name)]);
      t.equal(issues.filter((i) => i.startsWith(`${file(name)}: `)).length, 1, `${name} is named once`);
    }
    // the same file content, as a valid mapping, loads
    t.equal(loadConfig(['--config', file('good.yaml')], {}).config.oidc!.clientId, 'from-file');
  });

  t.test('an empty file is an empty config', async (t) => {
    const issues = loadIssues(t, ['--config', file('empty.yaml')]);
    t.strictSame(pathsOf(issues).sort(), ['oidc.clientId', 'oidc.issuerUrl', 'server.tlsCertFile', 'server.tlsPrivateKeyFile']);
  });

  t.test('flags override the file and keep its other settings', async (t) => {
    const { config } = loadConfig(['--config', file('good.yaml'), '--oidc-client-id', 'from-flag', '--secure-port', '9443'], {});
    t.equal(config.oidc!.clientId, 'from-flag');
    t.equal(config.server.securePort, 9443);
    t.equal(config.oidc!.usernameClaim, 'email', 'file setting in the same section survives');
    t.equal(config.oidc!.groupsClaim, 'groups');
    t.equal(config.server.tlsCertFile, '/etc/kubegate/tls.crt');
  });

  t.test('env overrides the file; flags override env', async (t) => {
    const env = {
      KUBEGATE_OIDC_CLIENT_ID: 'from-env',
      KUBEGATE_SECURE_PORT: '9443',
      KUBEGATE_OIDC_SIGNING_ALGS: 'RS256, ES256',
      KUBEGATE_ALLOW_SYSTEM_IDENTITIES: 'true',
      KUBEGATE_OIDC_REQUIRED_CLAIM: 'hd=example.com,tier=gold',
    };
    const fromEnv = loadConfig(['--config', file('ports.yaml')], env).config;
    t.equal(fromEnv.oidc!.clientId, 'from-env');
    t.equal(fromEnv.server.securePort, 9443, 'env port beats file port 8444');
    t.strictSame(fromEnv.oidc!.signingAlgs, ['RS256', 'ES256']);
    t.equal(fromEnv.identity.allowSystemNames, true);
    t.strictSame(fromEnv.oidc!.requiredClaims, { hd: 'example.com', tier: 'gold' });

    const fromFlags = loadConfig(
      ['--config', file('ports.yaml'), '--oidc-client-id', 'from-flag', '--secure-port', '10443', '--oidc-signing-algs', 'PS256'],
      env,
    ).config;
    t.equal(fromFlags.oidc!.clientId, 'from-flag');
    t.equal(fromFlags.server.securePort, 10443);
    t.strictSame(fromFlags.oidc!.signingAlgs, ['PS256']);
    t.equal(fromFlags.identity.allowSystemNames, true, 'env value not overridden by any flag stays');

    const fileOnly = loadConfig(['--config', file('ports.yaml')], {}).config;
    t.equal(fileOnly.server.securePort, 8444);
    t.equal(fileOnly.oidc!.clientId, 'from-file');
  });

  t.test('an empty env variable does not override the file', async (t) => {
    const { config } = loadConfig(['--config', file('good.yaml')], { KUBEGATE_OIDC_CLIENT_ID: '' });
    t.equal(config.oidc!.clientId, 'from-file');
  });

  t.test('bad env values name the path', async (t) => {
    t.strictSame(pathsOf(loadIssues(t, ['--config', file('good.yaml')], { KUBEGATE_SECURE_PORT: 'https' })), ['server.securePort']);
    t.strictSame(pathsOf(loadIssues(t, ['--config', file('good.yaml')], { KUBEGATE_ALLOW_SYSTEM_IDENTITIES: 'yes' })), [
      'identity.allowSystemNames',
    ]);
    t.strictSame(pathsOf(loadIssues(t, ['--config', file('good.yaml')], { KUBEGATE_OIDC_ISSUER_URL: 'http://x.example.com' })), [
      'oidc.issuerUrl',
    ]);
  });
});

t.test('flags', async (t) => {
  t.test('repeated --oidc-required-claim, value may contain =', async (t) => {
    const { config } = loadConfig([...minimalFlags, '--oidc-required-claim', 'a=b', '--oidc-required-claim', 'c=d=e'], {});
    t.strictSame(config.oidc!.requiredClaims, { a: 'b', c: 'd=e' });
  });

  t.test('--oidc-required-claim with an empty value is allowed', async (t) => {
    const { config } = loadConfig([...minimalFlags, '--oidc-required-claim', 'a='], {});
    t.strictSame(config.oidc!.requiredClaims, { a: '' });
  });

  t.test('malformed --oidc-required-claim', async (t) => {
    for (const bad of ['x', '=v']) {
      const issues = loadIssues(t, [...minimalFlags, '--oidc-required-claim', bad]);
      t.strictSame(pathsOf(issues), ['oidc.requiredClaims'], bad);
      t.match(issues[0], '--oidc-required-claim');
    }
  });

  t.test('non-numeric --secure-port', async (t) => {
    for (const bad of ['abc', '', '-1', '84.43', '0x20fb', '8443 ']) {
      const issues = loadIssues(t, [...minimalFlags, `--secure-port=${bad}`]);
      t.strictSame(pathsOf(issues), ['server.securePort'], JSON.stringify(bad));
      t.match(issues[0], '--secure-port');
    }
  });

  t.test('out of range --secure-port', async (t) => {
    t.strictSame(pathsOf(loadIssues(t, [...minimalFlags, '--secure-port', '65536'])), ['server.securePort']);
  });

  t.test('requestheader flags are comma-separated lists; env works too', async (t) => {
    const { config } = loadConfig(
      [
        ...minimalFlags,
        '--requestheader-username-headers', 'X-Front-User, X-Proxy-User',
        '--requestheader-uid-headers', 'X-Front-Uid',
        '--requestheader-extra-headers-prefix', 'X-Front-Extra-,X-Proxy-Extra-',
      ],
      { KUBEGATE_REQUESTHEADER_GROUP_HEADERS: 'X-Front-Group' },
    );
    t.strictSame(config.impersonation.requestHeader, {
      usernameHeaders: ['X-Front-User', 'X-Proxy-User'],
      uidHeaders: ['X-Front-Uid'],
      groupHeaders: ['X-Front-Group'],
      extraHeadersPrefixes: ['X-Front-Extra-', 'X-Proxy-Extra-'],
    });
  });

  t.test('a bad requestheader flag names the flag and the element', async (t) => {
    const issues = loadIssues(t, [...minimalFlags, '--requestheader-group-headers', 'X-Front-Group,X Bad', '--requestheader-extra-headers-prefix', 'Content-']);
    t.strictSame(pathsOf(issues).sort(), ['impersonation.requestHeader.extraHeadersPrefixes.0', 'impersonation.requestHeader.groupHeaders.1']);
    assertFlagsNamed(t, issues);
    t.ok(issues.some((i) => i.includes('(--requestheader-group-headers)')));
    t.ok(issues.some((i) => i.includes('(--requestheader-extra-headers-prefix)')));
  });

  t.test('boolean flag', async (t) => {
    t.equal(loadConfig([...minimalFlags, '--allow-system-identities'], {}).config.identity.allowSystemNames, true);
    t.equal(loadConfig(minimalFlags, {}).config.identity.allowSystemNames, false);
  });

  t.test('every flag-level problem and every schema problem at once', async (t) => {
    const issues = loadIssues(t, ['--secure-port', 'abc', '--oidc-issuer-url', 'http://issuer.example.com', '--oidc-signing-algs', 'none']);
    t.strictSame(pathsOf(issues).sort(), [
      'oidc.clientId',
      'oidc.issuerUrl',
      'oidc.signingAlgs.0',
      'server.securePort',
      'server.tlsCertFile',
      'server.tlsPrivateKeyFile',
    ]);
  });

  t.test('unknown flag, positional argument, missing value', async (t) => {
    for (const argv of [[...minimalFlags, '--oidc-issuer'], [...minimalFlags, 'serve'], [...minimalFlags, '--oidc-client-id']]) {
      t.throws(() => loadConfig(argv, {}), { code: 'CONFIG_INVALID' }, argv.slice(minimalFlags.length).join(' '));
    }
  });
});

t.test('the returned config is deeply frozen', async (t) => {
  const raw = minimal();
  const { config } = loadConfig(
    [...minimalFlags, '--oidc-required-claim', 'a=b'],
    {},
  );
  const fromValidate = validateConfigOrThrow({ ...raw, oidc: { ...raw.oidc, extraClaims: { scopes: 'scp' } } });

  for (const c of [config, fromValidate]) {
    const seen: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (value === null || typeof value !== 'object') return;
      seen.push(path);
      t.ok(Object.isFrozen(value), `${path} is frozen`);
      for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
    };
    walk(c, 'config');
    t.ok(seen.includes('config.oidc.signingAlgs') && seen.includes('config.oidc.requiredClaims'), 'nested objects were walked');

    t.throws(() => {
      (c.server as { securePort: number }).securePort = 1;
    }, TypeError);
    t.throws(() => {
      (c as { oidc: unknown }).oidc = {};
    }, TypeError);
    t.throws(() => {
      (c.oidc!.signingAlgs as string[]).push('HS256');
    }, TypeError);
    t.throws(() => {
      (c.oidc!.requiredClaims as Record<string, string>).injected = 'x';
    }, TypeError);
    t.equal(c.server.securePort, 8443, 'value unchanged');
  }

  // Freezing one result must not leak into the next (e.g. through shared default objects).
  const again = validateConfigOrThrow(raw);
  t.strictSame(again.oidc!.signingAlgs, ['RS256']);
  t.strictSame(again.oidc!.extraClaims, {});
});

t.test('client impersonation and break-glass elevation settings', async (t) => {
  const base = minimal();
  const ok = validateConfigOrThrow(base);
  t.equal(ok.impersonation.allowClientImpersonation, true, 'kubectl --as honoured by default');
  t.same(ok.impersonation.reviewCache, { allowedSeconds: 10, deniedSeconds: 2 });
  t.equal(ok.elevation, undefined, 'elevation off unless configured');
  t.equal(loadConfig([...minimalFlags, '--allow-client-impersonation=false'], {}).config.impersonation.allowClientImpersonation, false, '--allow-client-impersonation=false');
  const rule = { name: 'sre', requesters: { groups: ['oidc:sre'] }, groups: ['break-glass:admin'], maxDurationSeconds: 1800 };
  const withRules = validateConfigOrThrow({ ...base, elevation: { store: { type: 'kubernetes' }, rules: [rule] } });
  t.match(withRules.elevation, { store: { type: 'kubernetes', namespace: 'kubegate' }, pendingTimeoutSeconds: 900, rules: [{ minReasonLength: 10 }] });
  for (const [name, elevation, path] of [
    ['no rules', { store: { type: 'file', path: '/x' }, rules: [] }, /elevation\.rules: must have at least one rule/],
    ['no store', { rules: [rule] }, /elevation\.store/],
    ['unknown store type', { store: { type: 'etcd' }, rules: [rule] }, /elevation\.store/],
    ['duplicate rule names', { store: { type: 'kubernetes' }, rules: [rule, rule] }, /elevation\.rules\.1\.name: duplicate rule name "sre"/],
    ['nobody may ask', { store: { type: 'kubernetes' }, rules: [{ ...rule, requesters: {} }] }, /elevation\.rules\.0\.requesters: must name at least one user or group/],
    ['an empty mfa rule', { store: { type: 'kubernetes' }, rules: [{ ...rule, mfa: {} }] }, /elevation\.rules\.0\.mfa: must list amr or acr values/],
    ['a rule name that is not a DNS label', { store: { type: 'kubernetes' }, rules: [{ ...rule, name: 'SRE Team' }] }, /elevation\.rules\.0\.name/],
    ['a webhook over http', { store: { type: 'kubernetes' }, notify: { webhookUrl: 'http://chat.example.com/hook' }, rules: [rule] }, /elevation\.notify\.webhookUrl: must be an https URL/],
  ] as const) {
    const result = validateConfig({ ...base, elevation });
    t.notOk(result.ok, name);
    if (!result.ok) t.match(result.issues.join('\n'), path, name);
  }
  const reserved = validateConfig({ ...base, oidc: { ...base.oidc, extraClaims: { 'kubegate.io/elevation': 'x' } } });
  t.notOk(reserved.ok, 'an identity provider claim cannot be mapped onto kubegate\'s own extra keys');
});

t.test('the sign-in page with several workers needs a shared cookie key', async (t) => {
  const page = { enabled: true, publicUrl: 'https://kubegate.example.com' };
  const many = validateConfig({ ...minimal(), server: { ...minimal().server, workers: 2 }, loginPage: page });
  t.notOk(many.ok);
  if (!many.ok) t.match(many.issues.join('\n'), /loginPage\.cookieKeyFile \(--login-page-cookie-key-file\): is required with server\.workers 2/);
  t.ok(validateConfig({ ...minimal(), server: { ...minimal().server, workers: 2 }, loginPage: { ...page, cookieKeyFile: '/etc/kubegate/cookie.key' } }).ok, 'with a key file');
  t.ok(validateConfig({ ...minimal(), loginPage: page }).ok, 'one process: a random key per process is fine');
});
