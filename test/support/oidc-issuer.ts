/**
 * A REAL OpenID Connect identity provider (node `oidc-provider` v9) for tests
 * and the demo. Loopback only: it binds 127.0.0.1 on a random port, serves
 * HTTPS with a throwaway cert from ./pki.ts, and keeps everything in memory.
 *
 * ID tokens are minted by the provider itself through a test-only custom grant
 * type (TEST_MINT_GRANT) registered on the token endpoint. Never expose this.
 */
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
// oidc-provider ships no type declarations; we only touch a small, typed-below surface.
// @ts-ignore -- untyped module
import ProviderImport from 'oidc-provider';

import { createPki, type TestPki } from './pki.js';

export interface TestIssuer {
  issuer: string;            // https://127.0.0.1:PORT  (the exact issuer string in discovery)
  caFile: string;            // CA that signs the issuer's TLS cert
  clientId: string;          // a registered client id, e.g. "kubegate"
  /** Mint a real ID token from the provider for this account, via a test-only custom grant type (provider.registerGrantType) in ONE POST to the token endpoint. */
  mintIdToken(opts: { sub: string; claims?: Record<string, unknown>; clientId?: string }): Promise<string>;
  /** Sign an arbitrary JWT with the provider's own signing key (for expired / wrong aud / wrong iss / nbf cases). */
  signWithProviderKey(payload: Record<string, unknown>, header?: { alg?: string; kid?: string }): Promise<string>;
  /** Sign with a different, attacker key but the provider's kid (forged signature). */
  forge(payload: Record<string, unknown>): Promise<string>;
  /** Every HTTP request the issuer received, in order (for "contacts nothing" assertions: compare lengths). */
  requests: IssuerRequest[];
  /** Delete every refresh token the provider has issued (as an IdP revoking sessions would); returns how many. */
  revokeRefreshTokens(): number;
  /** With `loginPageClient`: replace the sign-in page client's redirect URIs (e.g. once kubegate's port is known). */
  setLoginPageRedirectUris?(uris: string[]): void;
  close(): Promise<void>;
}

/** One request the issuer received. */
export interface IssuerRequest {
  method: string;
  /** The path without the query, e.g. `/.well-known/openid-configuration`, `/jwks`, `/token`, `/auth`. */
  path: string;
  /** The query parameters (e.g. of the authorization request: prompt, max_age, redirect_uri). */
  query: Record<string, string>;
}

/**
 * Interactive sign-in (authorization code + PKCE, refresh tokens, device flow), off by default. With it the
 * registered clients become native (RFC 8252) public clients that may also use `authorization_code`,
 * `refresh_token` and the device code grant, with the loopback redirect `http://127.0.0.1/callback` on any
 * port; oidc-provider's own dev interaction pages (`/interaction/:uid`) do the sign-in: a login form whose
 * `login` is the account id (any password), then a consent form. Refresh tokens need `offline_access`
 * (and, per OIDC, `prompt=consent` in the authorization request).
 */
export interface InteractiveIssuerOptions {
  /** Claims of the accounts a person can sign in as, by account id (= `sub`). Unknown ids get only `sub`. */
  accounts?: Record<string, Record<string, unknown>>;
  /** Advertise and enable the device authorization grant (`/device/auth`, user pages at `/device`). */
  deviceFlow?: boolean;
  /** Extra redirect URIs for the interactive clients, besides the loopback one. */
  redirectUris?: string[];
  /** An extra confidential client (client_secret_post), same grants and redirects. */
  confidentialClient?: { clientId: string; clientSecret: string };
  /** Refresh token lifetime (default 1 day). */
  refreshTokenTtlSeconds?: number;
}

/**
 * kubegate's sign-in page (`/kubegate/login`) as a client of the issuer: a WEB client (application_type `web`,
 * so an https redirect on 127.0.0.1 is allowed, which native clients forbid) for the authorization code grant
 * with PKCE. Needs `interactive` too (its accounts and oidc-provider's dev interaction pages: login form, then
 * consent form, and a `[ Cancel ]` link that ends the sign-in with `error=access_denied`).
 * Registered through the adapter, so its redirect URIs can change after start (`setLoginPageRedirectUris`).
 */
export interface LoginPageClientOptions {
  clientId: string;
  /** Set: a confidential client authenticating with `tokenEndpointAuthMethod`; unset: a public client (PKCE only). */
  clientSecret?: string;
  /** Default `client_secret_basic` when a secret is set. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /** e.g. `https://127.0.0.1:PORT/kubegate/login/callback`. */
  redirectUris: string[];
}

/** The custom grant_type accepted by the token endpoint (test-only). */
export const TEST_MINT_GRANT = 'urn:kubegate:test:mint';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

// --- minimal typing of the oidc-provider surface we use -----------------------
interface OidcCtx {
  oidc: { params: Record<string, unknown>; client: unknown; entity(name: string, value: unknown): void };
  body: unknown;
}
interface OidcIdToken { scope: string; set(key: string, value: unknown): void; issue(o: { use: 'idtoken' }): Promise<string> }
interface OidcProvider {
  IdToken: new (claims: Record<string, unknown>, o: { ctx: OidcCtx }) => OidcIdToken;
  registerGrantType(name: string, handler: (ctx: OidcCtx) => Promise<void>, params?: string[]): void;
  callback(): (req: unknown, res: unknown) => void;
  on(event: string, fn: (...args: unknown[]) => void): void;
}
const Provider = ProviderImport as unknown as new (issuer: string, config: Record<string, unknown>) => OidcProvider;

/** Claims the provider knows about (everything else is passed through as-is). */
const CLAIMS_CONFIG: Record<string, string[]> = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username', 'given_name', 'family_name'],
  groups: ['groups'],
};
const MINT_SCOPE = Object.keys(CLAIMS_CONFIG).join(' ');
const KNOWN_CLAIMS = new Set(Object.values(CLAIMS_CONFIG).flat());

/** In-memory adapter (avoids the library's "development-only adapter" warning). */
function memoryAdapter(store = new Map<string, Record<string, unknown>>()) {
  return class Adapter {
    constructor(private readonly name: string) {}
    private k(id: string) { return `${this.name}:${id}`; }
    async upsert(id: string, payload: Record<string, unknown>) { store.set(this.k(id), payload); }
    async find(id: string) { return store.get(this.k(id)); }
    async findByUid(uid: string) { return [...store.values()].find((p) => p.uid === uid); }
    async findByUserCode(code: string) { return [...store.values()].find((p) => p.userCode === code); }
    async consume(id: string) { const p = store.get(this.k(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }
    async destroy(id: string) { store.delete(this.k(id)); }
    async revokeByGrantId(grantId: string) { for (const [k, p] of store) if (p.grantId === grantId) store.delete(k); }
  };
}

function postForm(url: string, ca: string, form: Record<string, string>): Promise<{ status: number; body: string }> {
  const data = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      ca,
      agent: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

export async function startTestIssuer(
  opts: { pki?: TestPki; clientIds?: string[]; idTokenTtlSeconds?: number; interactive?: InteractiveIssuerOptions; loginPageClient?: LoginPageClientOptions } = {},
): Promise<TestIssuer> {
  const ownPki = !opts.pki;
  const pki = opts.pki ?? createPki();
  const clientIds = opts.clientIds?.length ? opts.clientIds : ['kubegate'];
  const tls = pki.server('oidc-issuer');

  // Provider signing key (RS256), generated per issuer instance.
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const privateJwk: JWK = await exportJWK(privateKey);
  privateJwk.kid = await calculateJwkThumbprint(privateJwk);
  privateJwk.alg = 'RS256';
  privateJwk.use = 'sig';
  const providerKid = privateJwk.kid;
  const signingKey: KeyObject = createPrivateKey({ key: privateJwk as import('node:crypto').JsonWebKey, format: 'jwk' });

  // Bind first: the issuer URL needs the port before the Provider is constructed.
  let handler: ((req: unknown, res: unknown) => void) | undefined;
  const requests: IssuerRequest[] = [];
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://issuer.invalid');
    requests.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams) });
    if (handler) handler(req, res);
    else { res.statusCode = 503; res.end(); }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `https://127.0.0.1:${port}`;

  // ticket -> pending mint request; looked up by findAccount during the grant.
  const pending = new Map<string, { sub: string; claims: Record<string, unknown> }>();
  let lastServerError: unknown;

  const findAccount = async (ctx: OidcCtx, sub: string) => {
    const ticket = ctx.oidc.params.ticket;
    const entry = typeof ticket === 'string' ? pending.get(ticket) : undefined;
    const claims = entry && entry.sub === sub ? entry.claims : (interactiveAccounts[sub] ?? {});
    return { accountId: sub, claims: async () => ({ ...claims, sub }) };
  };

  const interactive = opts.interactive;
  const interactiveAccounts: Record<string, Record<string, unknown>> = interactive?.accounts ?? {};
  const adapterStore = new Map<string, Record<string, unknown>>();
  const interactiveClient = {
    application_type: 'native',
    grant_types: [TEST_MINT_GRANT, 'authorization_code', 'refresh_token', ...(interactive?.deviceFlow ? [DEVICE_CODE_GRANT] : [])],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback', ...(interactive?.redirectUris ?? [])],
  };

  let provider: OidcProvider;
  try {
    provider = new Provider(issuer, {
      adapter: memoryAdapter(adapterStore),
      jwks: { keys: [privateJwk] },
      clients: [
        ...clientIds.map((client_id) => ({
          client_id,
          token_endpoint_auth_method: 'none',
          grant_types: [TEST_MINT_GRANT],
          response_types: [],
          redirect_uris: [],
          id_token_signed_response_alg: 'RS256',
          ...(interactive ? interactiveClient : {}),
        })),
        ...(interactive?.confidentialClient
          ? [{
              ...interactiveClient,
              client_id: interactive.confidentialClient.clientId,
              client_secret: interactive.confidentialClient.clientSecret,
              token_endpoint_auth_method: 'client_secret_post',
              id_token_signed_response_alg: 'RS256',
            }]
          : []),
      ],
      claims: CLAIMS_CONFIG,
      scopes: ['openid', 'offline_access', ...Object.keys(CLAIMS_CONFIG).filter((s) => s !== 'openid')],
      conformIdTokenClaims: false,
      enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
      features: interactive
        ? { devInteractions: { enabled: true }, deviceFlow: { enabled: interactive.deviceFlow === true } }
        : { devInteractions: { enabled: false } },
      ttl: interactive
        ? {
            IdToken: opts.idTokenTtlSeconds ?? 600,
            AccessToken: 600,
            AuthorizationCode: 60,
            DeviceCode: 600,
            Grant: 86_400,
            Interaction: 600,
            Session: 86_400,
            RefreshToken: interactive.refreshTokenTtlSeconds ?? 86_400,
          }
        : { IdToken: opts.idTokenTtlSeconds ?? 600 },
      findAccount,
      clientBasedCORS: () => true,
    });
  } catch (err) {
    server.close();
    if (ownPki) pki.cleanup();
    throw err;
  }
  provider.on('server_error', (_ctx, err) => { lastServerError = err; });

  // kubegate's sign-in page client (see LoginPageClientOptions): a dynamic client, read from the adapter.
  const loginPageClient = opts.loginPageClient;
  const setLoginPageRedirectUris = (uris: string[]) => {
    if (!loginPageClient) throw new Error('setLoginPageRedirectUris: start the issuer with loginPageClient');
    adapterStore.set(`Client:${loginPageClient.clientId}`, {
      client_id: loginPageClient.clientId,
      application_type: 'web',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: uris,
      id_token_signed_response_alg: 'RS256',
      ...(loginPageClient.clientSecret === undefined
        ? { token_endpoint_auth_method: 'none' }
        : { client_secret: loginPageClient.clientSecret, token_endpoint_auth_method: loginPageClient.tokenEndpointAuthMethod ?? 'client_secret_basic' }),
    });
  };
  if (loginPageClient) {
    if (!interactive) {
      server.close();
      if (ownPki) pki.cleanup();
      throw new Error('loginPageClient needs the interactive option (accounts and sign-in pages)');
    }
    setLoginPageRedirectUris(loginPageClient.redirectUris);
  }

  provider.registerGrantType(TEST_MINT_GRANT, async (ctx) => {
    const sub = ctx.oidc.params.sub;
    if (typeof sub !== 'string' || !sub) throw new Error('mint grant: missing sub');
    const account = await findAccount(ctx, sub);
    ctx.oidc.entity('Account', account);
    const claims = await account.claims();
    const token = new provider.IdToken({ ...claims }, { ctx });
    token.scope = MINT_SCOPE;
    // Claims the provider has no config for are attached verbatim. Note the
    // provider always overwrites iss/aud/exp/sub; use signWithProviderKey for those.
    for (const [k, v] of Object.entries(claims)) if (!KNOWN_CLAIMS.has(k) && k !== 'sub') token.set(k, v);
    ctx.body = { id_token: await token.issue({ use: 'idtoken' }) };
  }, ['sub', 'ticket']);

  handler = provider.callback();

  const tokenEndpoint = `${issuer}/token`;
  let attackerKey: CryptoKey | undefined;
  let closed = false;

  return {
    issuer,
    caFile: pki.caFile,
    clientId: clientIds[0]!,

    async mintIdToken({ sub, claims = {}, clientId = clientIds[0]! }) {
      const ticket = randomUUID();
      pending.set(ticket, { sub, claims });
      try {
        const res = await postForm(tokenEndpoint, pki.ca, { grant_type: TEST_MINT_GRANT, client_id: clientId, sub, ticket });
        const json = JSON.parse(res.body) as { id_token?: string; error?: string; error_description?: string };
        if (res.status !== 200 || !json.id_token) {
          const detail = json.error === 'server_error' && lastServerError ? ` (${String(lastServerError)})` : '';
          throw new Error(`mintIdToken failed: HTTP ${res.status} ${json.error ?? ''} ${json.error_description ?? ''}${detail}`.trim());
        }
        return json.id_token;
      } finally {
        pending.delete(ticket);
      }
    },

    async signWithProviderKey(payload, header = {}) {
      return new SignJWT(payload)
        .setProtectedHeader({ alg: header.alg ?? 'RS256', kid: header.kid ?? providerKid, typ: 'JWT' })
        .sign(signingKey);
    },

    requests,

    ...(loginPageClient ? { setLoginPageRedirectUris } : {}),

    revokeRefreshTokens() {
      let n = 0;
      for (const key of [...adapterStore.keys()]) {
        if (key.startsWith('RefreshToken:')) {
          adapterStore.delete(key);
          n += 1;
        }
      }
      return n;
    },

    async forge(payload) {
      attackerKey ??= (await generateKeyPair('RS256')).privateKey;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, aud: clientIds[0], iat: now, exp: now + 300, ...payload })
        .setProtectedHeader({ alg: 'RS256', kid: providerKid, typ: 'JWT' })
        .sign(attackerKey);
    },

    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (ownPki) pki.cleanup();
    },
  };
}
