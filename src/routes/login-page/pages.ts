/** The sign-in page's documents: the signed-in page (identity, kubeconfig, commands), errors, the redirect. */
import type { UserInfo } from '../../identity/user.js';
import { LOGIN_PAGE_ERRORS, type LoginPageErrorCode } from './errors.js';
import { html, layout, type Html } from './html.js';
import { loginArgs } from './kubeconfig.js';
import type { KubeconfigSettings } from './settings.js';

export const LOGIN_PATH = '/kubegate/login';
export const CALLBACK_PATH = '/kubegate/login/callback';
export const KUBECONFIG_PATH = '/kubegate/login/kubeconfig';

/** Where a downloaded kubeconfig goes in the commands shown. */
const KUBECONFIG_FILE = '~/.kube/kubegate.yaml';
const CLAIMS_SHOWN = 50;

export interface SignedInView {
  user: UserInfo;
  /** The verified ID token's claims (the person's own), shown folded for troubleshooting. */
  claims: Readonly<Record<string, unknown>>;
  issuerUrl: string;
  clientId: string;
  kubeconfig: KubeconfigSettings;
  kubeconfigYaml: string;
}

export function signedInPage(v: SignedInView): Html {
  const u = v.user;
  const k = v.kubeconfig;
  const none = (what: string) => html`<span class="none">${what}</span>`;
  const groups = u.groups.length === 0 ? none('none') : html`<ul>${u.groups.map((g) => html`<li><code>${g}</code></li>`)}</ul>`;
  const extraKeys = Object.keys(u.extra).sort();
  const extra =
    extraKeys.length === 0
      ? none('none')
      : html`<ul>${extraKeys.map((key) => html`<li><code>${key}</code>: ${u.extra[key]!.map((value, i) => html`${i > 0 ? ', ' : ''}<code>${value}</code>`)}</li>`)}</ul>`;
  const claimNames = Object.keys(v.claims).sort().slice(0, CLAIMS_SHOWN);
  const downloadUrl = `${k.server}${KUBECONFIG_PATH}`;
  return layout(
    'Signed in',
    html`<h1>Signed in</h1>
<p>kubegate will send your Kubernetes API requests as this identity (the API server adds the group <code>system:authenticated</code>):</p>
<table id="identity">
<tr><th scope="row">Username</th><td id="username"><code>${u.username}</code></td></tr>
<tr><th scope="row">Groups</th><td id="groups">${groups}</td></tr>
<tr><th scope="row">UID</th><td id="uid">${u.uid === undefined ? none('not set') : html`<code>${u.uid}</code>`}</td></tr>
<tr><th scope="row">Extra</th><td id="extra">${extra}</td></tr>
</table>

<h2>1. Install the kubegate CLI</h2>
<pre id="install"><code>${k.installCommand}</code></pre>

<h2>2. Get your kubeconfig</h2>
<p><a class="button" id="download" href="${KUBECONFIG_PATH}" download="${k.name}.kubeconfig">Download kubeconfig</a></p>
<p>or in a terminal:</p>
<pre id="fetch-kubeconfig"><code>mkdir -p ~/.kube
curl -fsSL -o ${KUBECONFIG_FILE} ${shellQuote(downloadUrl)}</code></pre>
<p>It holds no password or token: when kubectl needs one it runs <code>${shellJoin([k.command, ...loginArgs(k)])}</code>.</p>
<details><summary>The kubeconfig</summary>
<pre id="kubeconfig"><code>${v.kubeconfigYaml}</code></pre>
</details>

<h2>3. Use it</h2>
<pre id="use"><code>export KUBECONFIG=${KUBECONFIG_FILE}
kubectl auth whoami
kubectl get pods</code></pre>
<p>The first kubectl command opens your browser to sign in (or prints a link to open). Tokens are cached and refreshed
in the background; when they can no longer be refreshed kubectl asks you to sign in again. To sign in afresh,
for example to pass a new MFA check before break-glass elevation, run <code>${k.command} login --force</code>
with the arguments above.</p>
<p>To add it to your usual kubeconfig instead (then pick it with <code>kubectl config use-context ${k.name}</code>):</p>
<pre id="merge"><code>KUBECONFIG=~/.kube/config:${KUBECONFIG_FILE} kubectl config view --flatten &gt; ~/.kube/config.new
mv ~/.kube/config.new ~/.kube/config</code></pre>

<details><summary>Claims in your ID token (${String(Object.keys(v.claims).length)})</summary>
<p>From <code>${v.issuerUrl}</code> for client <code>${v.clientId}</code>. kubegate maps them with its <code>oidc.*</code> settings.</p>
<table id="claims">${claimNames.map((name) => html`<tr><th scope="row"><code>${name}</code></th><td><code>${claimText(v.claims[name])}</code></td></tr>`)}</table>
</details>
<p><a href="${LOGIN_PATH}">Sign in again</a></p>`,
  );
}

export function errorPage(code: LoginPageErrorCode, detail: string | undefined): Html {
  const e = LOGIN_PAGE_ERRORS[code];
  return layout(
    e.title,
    html`<h1>${e.title}</h1>
<div class="error" id="error">
<p>${e.message}</p>
${detail === undefined ? '' : html`<p id="detail">${detail}</p>`}
<p class="code">Error code: <code id="error-code">${code}</code></p>
</div>
<p><a class="button" href="${LOGIN_PATH}">Sign in again</a></p>`,
  );
}

/** The body of the redirect to the identity provider (browsers follow the Location header). */
export function redirectPage(location: string): Html {
  return layout('Signing in', html`<h1>Signing in</h1><p><a href="${location}">Continue to your identity provider</a>.</p>`);
}

function claimText(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/** POSIX shell quoting, only where needed. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function shellJoin(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}
