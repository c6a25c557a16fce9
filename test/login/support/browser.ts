/**
 * A scripted "browser" for the test issuer's sign-in pages (oidc-provider's dev interactions and device
 * flow pages): it follows redirects with a cookie jar and submits each page's form, filling in the account
 * to sign in as and the device user code. It stops at the first answer that is not a redirect and has no
 * form (the loopback callback's page, the device flow's success page, or an error page).
 *
 * https requests trust the test CA only; http is allowed to 127.0.0.1 only (the plugin's loopback
 * callback). Every request is bounded by a timeout and the whole walk by a step cap.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface BrowserStep {
  method: string;
  url: string;
  status: number;
  /** Which form the page held, if any: `login`, `consent`, `user_code`, `confirm`, or `other`. */
  form?: string;
}

export interface BrowseResult {
  steps: BrowserStep[];
  /** The last page's status and text. */
  status: number;
  body: string;
  /** The last URL visited. */
  url: string;
}

interface Cookie {
  name: string;
  value: string;
  path: string;
}

export interface BrowserOptions {
  /** PEM CA bundle trusted for https. */
  ca: string;
  /** The account id typed into the login form. */
  login: string;
  /** The device flow user code typed into the input form (when the page asks for one). */
  userCode?: string;
  /** Give up after this many requests (default 20). */
  maxSteps?: number;
}

/** A browser with one cookie jar; reuse it across sign-ins to keep the issuer's session (single sign-on). */
export class TestBrowser {
  private readonly jar = new Map<string, Cookie>();

  constructor(private readonly options: BrowserOptions) {}

  /** Open `url` and walk the sign-in pages to the end. */
  async open(url: string, overrides: Partial<BrowserOptions> = {}): Promise<BrowseResult> {
    const opts = { ...this.options, ...overrides };
    const steps: BrowserStep[] = [];
    let method = 'GET';
    let target = new URL(url);
    let body: string | undefined;
    for (let i = 0; i < (opts.maxSteps ?? 20); i++) {
      const res = await this.send(method, target, body);
      const step: BrowserStep = { method, url: target.href, status: res.status };
      steps.push(step);
      if (res.status >= 300 && res.status < 400 && res.location) {
        target = new URL(res.location, target);
        method = 'GET';
        body = undefined;
        continue;
      }
      const form = parseForm(res.body);
      if (!form) return { steps, status: res.status, body: res.body, url: target.href };
      step.form = form.kind;
      const fields = { ...form.fields };
      if ('login' in fields) fields.login = opts.login;
      if ('password' in fields) fields.password = 'any password';
      if ('user_code' in fields && fields.user_code === '') fields.user_code = opts.userCode ?? '';
      method = form.method;
      target = new URL(form.action, target);
      body = new URLSearchParams(fields).toString();
    }
    throw new Error(`test browser: more than ${opts.maxSteps ?? 20} steps: ${steps.map((s) => `${s.method} ${s.url} ${s.status}`).join(' -> ')}`);
  }

  private send(method: string, url: URL, body: string | undefined): Promise<{ status: number; location?: string; body: string }> {
    if (url.protocol === 'http:' && url.hostname !== '127.0.0.1') throw new Error(`test browser: refusing plain http to ${url.host}`);
    const headers: Record<string, string> = { accept: 'text/html' };
    const cookies = [...this.jar.values()].filter((c) => url.pathname.startsWith(c.path)).map((c) => `${c.name}=${c.value}`);
    if (cookies.length) headers.cookie = cookies.join('; ');
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolve, reject) => {
      const onResponse = (res: import('node:http').IncomingMessage) => {
        for (const line of res.headers['set-cookie'] ?? []) this.remember(line);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}), body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      };
      const req = url.protocol === 'https:'
        ? httpsRequest(url, { method, headers, ca: this.options.ca, agent: false, timeout: 10_000 }, onResponse)
        : httpRequest(url, { method, headers, agent: false, timeout: 10_000 }, onResponse);
      req.on('timeout', () => req.destroy(new Error(`test browser: ${method} ${url.href} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  private remember(line: string): void {
    const [pair = '', ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = '/';
    let expired = value === '';
    for (const attr of attrs) {
      const [k = '', v = ''] = attr.split('=');
      const key = k.trim().toLowerCase();
      if (key === 'path') path = v.trim() || '/';
      if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      if (key === 'max-age' && Number(v) <= 0) expired = true;
    }
    const id = `${name}\n${path}`;
    if (expired) this.jar.delete(id);
    else this.jar.set(id, { name, value, path });
  }
}

/** The first <form> of a page: its method, action and fields (inputs with a name; their value or ""). */
function parseForm(html: string): { kind: string; method: string; action: string; fields: Record<string, string> } | undefined {
  const open = /<form\b([^>]*)>/i.exec(html);
  if (!open) return undefined;
  const end = html.indexOf('</form>', open.index);
  const inner = html.slice(open.index, end < 0 ? undefined : end);
  const attr = (tag: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag)?.[1];
  const fields: Record<string, string> = {};
  for (const m of inner.matchAll(/<input\b([^>]*)>/gi)) {
    const name = attr(m[1]!, 'name');
    if (name) fields[name] = decodeEntities(attr(m[1]!, 'value') ?? '');
  }
  const kind = fields.prompt === 'login' ? 'login'
    : fields.prompt === 'consent' ? 'consent'
      : 'confirm' in fields ? 'confirm'
        : 'user_code' in fields ? 'user_code'
          : 'other';
  return { kind, method: (attr(open[1]!, 'method') ?? 'GET').toUpperCase(), action: decodeEntities(attr(open[1]!, 'action') ?? ''), fields };
}

function decodeEntities(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
