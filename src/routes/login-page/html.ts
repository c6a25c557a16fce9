/**
 * Server-rendered HTML for the sign-in page: a tagged template that escapes every interpolated value
 * (only values already produced by `html` pass through), one layout with an inline stylesheet allowed by
 * its hash, and the security headers every page carries. No scripts, no external assets, no forms.
 */
import { createHash } from 'node:crypto';
import type { ClientResponse as ServerResponse } from '../../net/wire.js';

/** Markup produced by {@link html}: safe to embed as is. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text → HTML text or attribute value (quotes included, so it is safe in either). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * `html\`<p>${value}</p>\``: strings, numbers and anything else are escaped; `Html` is embedded as is;
 * arrays are joined; `undefined`, `null` and `false` render nothing.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

const CSS = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5}
body{margin:0;padding:2rem 1rem}
main{max-width:52rem;margin:0 auto}
h1{font-size:1.6rem;margin:0 0 1rem}
h2{font-size:1.15rem;margin:2rem 0 .5rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.35rem .6rem;border-bottom:1px solid #8884}
th{width:8rem;white-space:nowrap}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9rem}
pre{padding:.75rem;overflow-x:auto;border:1px solid #8886;border-radius:4px;background:#8881}
ul{margin:0;padding-left:1.2rem}
.none{opacity:.7;font-style:italic}
.error{border-left:4px solid #c33;padding:.25rem 1rem}
.code{opacity:.8;font-size:.85rem}
a.button{display:inline-block;padding:.45rem .9rem;border:1px solid currentColor;border-radius:4px;text-decoration:none;font-weight:600}
footer{margin-top:3rem;font-size:.85rem;opacity:.75}
`.trim();

/** The CSP source that allows exactly the inline stylesheet above. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(CSS).digest('base64')}'`;

/** Nothing may load or run: only the inline stylesheet, by hash. Forms, frames and base URLs are refused too. */
export const CONTENT_SECURITY_POLICY = `default-src 'none'; style-src ${STYLE_HASH}; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** Headers on every answer of the page: no caching, no framing, no sniffing, no referrer (callback URLs carry codes). */
export function securityHeaders(): Record<string, string> {
  return {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'cache-control': 'no-store',
    pragma: 'no-cache',
  };
}

/** A whole document around `body`. */
export function layout(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · kubegate</title>
<style>${new Html(CSS)}</style>
</head>
<body>
<main>
${body}
<footer>kubegate: an authenticating proxy for the Kubernetes API. Nothing on this page is stored by kubegate.</footer>
</main>
</body>
</html>
`;
}

/** Send a page (no body for HEAD). */
export function sendHtml(res: ServerResponse, status: number, page: Html, headers: Record<string, string | string[]> = {}, head = false): void {
  const body = page.value;
  res.writeHead(status, {
    ...securityHeaders(),
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  if (head) res.end();
  else res.end(body);
}
