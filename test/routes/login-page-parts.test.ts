/** The sign-in page's pure parts: HTML escaping, the kubeconfig it hands out, the flow cookie. */
import t from 'tap';
import YAML from 'yaml';
import { escapeHtml, html, Html } from '../../src/routes/login-page/html.js';
import { kubeconfigObject, kubeconfigYaml, loginArgs } from '../../src/routes/login-page/kubeconfig.js';
import { FLOW_COOKIE, openFlow, sealFlow } from '../../src/routes/login-page/flow-cookie.js';
import type { KubeconfigSettings } from '../../src/routes/login-page/settings.js';

t.test('html escapes every interpolation except Html', async (t) => {
  t.equal(escapeHtml(`<a href="x" onclick='y'>&amp;</a>`), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;');
  const evil = '"><script>alert(1)</script>';
  t.equal(html`<p title="${evil}">${evil}</p>`.value, '<p title="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p>');
  t.equal(html`<ul>${['<a>', html`<li>${'<b>'}</li>`]}</ul>`.value, '<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>', 'arrays: strings escaped, Html kept');
  t.equal(html`${undefined}${null}${false}${0}`.value, '0');
  t.equal(String(new Html('<b>')), '<b>');
});

const base: KubeconfigSettings = {
  name: 'prod',
  server: 'https://kubegate.example.com',
  command: 'kubegate',
  issuerUrl: 'https://login.example.com',
  clientId: 'kubernetes',
  scopes: ['openid', 'email', 'groups'],
  authParams: {},
  extraArgs: [],
  installCommand: 'brew install kubegate',
};

t.test('the kubeconfig', async (t) => {
  t.same(loginArgs(base), ['login', '--issuer', 'https://login.example.com', '--client-id', 'kubernetes', '--scopes', 'openid,email,groups']);
  t.same(
    loginArgs({ ...base, scopes: ['email', 'openid'], grant: 'device', listenPort: 8000, authParams: { access_type: 'offline' }, extraArgs: ['--certificate-authority', '/etc/ssl/corp.pem'] }),
    ['login', '--issuer', 'https://login.example.com', '--client-id', 'kubernetes', '--scopes', 'openid,email', '--grant', 'device', '--listen-port', '8000', '--auth-param', 'access_type=offline', '--certificate-authority', '/etc/ssl/corp.pem'],
    'openid first, then the plugin options, then extraArgs',
  );
  t.same(loginArgs({ ...base, scopes: ['openid'] }), ['login', '--issuer', 'https://login.example.com', '--client-id', 'kubernetes'], 'openid alone: no --scopes');

  const kc = kubeconfigObject(base) as { clusters: { cluster: Record<string, string> }[]; users: { user: { exec: Record<string, unknown> } }[] };
  t.same(kc.clusters[0]!.cluster, { server: 'https://kubegate.example.com' }, 'no CA: system roots');
  const exec = kc.users[0]!.user.exec;
  t.equal(exec.apiVersion, 'client.authentication.k8s.io/v1');
  t.equal(exec.interactiveMode, 'IfAvailable');
  t.equal(exec.provideClusterInfo, false);
  t.match(exec.installHint, 'brew install kubegate');

  const text = kubeconfigYaml(base);
  t.match(text, /^# kubeconfig for kubegate at https:\/\/kubegate\.example\.com\n/);
  t.same(YAML.parse(text), kubeconfigObject(base), 'the YAML is the object');
});

t.test('the flow cookie opens only with its key, before it expires, unaltered', async (t) => {
  const key = new Uint8Array(32).fill(7);
  const flow = { state: 's'.repeat(43), nonce: 'n'.repeat(43), codeVerifier: 'v'.repeat(43) };
  const sealed = await sealFlow(flow, key, 1_000_000, 600);
  t.notMatch(sealed, /sss|nnn|vvv/);
  t.same(await openFlow(`a=b; ${FLOW_COOKIE}=${sealed}; c=d`, key, 1_000_000 + 599_000), { ok: true, flow });
  t.same(await openFlow(`${FLOW_COOKIE}=${sealed}`, key, 1_000_000 + 601_000), { ok: false, reason: 'expired' });
  t.same(await openFlow(`${FLOW_COOKIE}=${sealed}`, new Uint8Array(32).fill(8), 1_000_000), { ok: false, reason: 'invalid' });
  t.same(await openFlow(`${FLOW_COOKIE}=garbage`, key, 1_000_000), { ok: false, reason: 'invalid' });
  t.same(await openFlow('other=1', key, 1_000_000), { ok: false, reason: 'missing' });
  t.same(await openFlow(undefined, key, 1_000_000), { ok: false, reason: 'missing' });
  t.same(await openFlow(`${FLOW_COOKIE}=garbage; ${FLOW_COOKIE}=${sealed}`, key, 1_000_000), { ok: true, flow }, 'a stale cookie next to the right one');
});
