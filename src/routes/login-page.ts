/**
 * The sign-in page, kubegate's own pages answered BEFORE bearer-token authentication (the person has no
 * token yet) and never forwarded to the API server:
 *
 *   GET /kubegate/login             → 303 to the identity provider (authorization code + PKCE, state, nonce),
 *                                     the flow sealed in a short-lived encrypted cookie
 *   GET /kubegate/login/callback    → verifies state, exchanges the code (openid-client verifies the ID token:
 *                                     signature, iss, aud, nonce, expiry), maps the claims exactly as kubegate
 *                                     will impersonate them, and shows the identity, a kubeconfig and commands
 *   GET /kubegate/login/kubeconfig  → the kubeconfig (no credential in it: its user runs `kubegate login`)
 *
 * No token is kept: the ID token is read for its claims and dropped. Every failure leaves as a coded
 * {@link LoginPageError} and is rendered once, as an HTML page (never a stack trace).
 *
 * Reads (through {@link loginPageSettings}) config `loginPage.*` and `oidc.issuerUrl`, `oidc.clientId`,
 * `oidc.caFile`, `oidc.requiredClaims`, `oidc.signingAlgs`.
 *
 * @example Wiring, in the request handler, before authentication:
 * ```ts
 * const settings = loginPageSettings(config);
 * const loginPage = settings && createLoginPage(settings, { mapClaims: (claims) => mapStructuredClaims(claims, issuer.rules), log });
 * // per request:
 * if (loginPage?.handles(req.url ?? '/')) return void loginPage.handle(req, res);
 * ```
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClientRequest as IncomingMessage, ClientResponse as ServerResponse } from '../net/wire.js';
import * as client from 'openid-client';
import type { Logger } from 'winston';
import type { Claims } from '../identity/structured.js';
import type { UserInfo } from '../identity/user.js';
import { silentLogger } from '../log/logger.js';
import { LoginPageError } from './login-page/errors.js';
import { clearedFlowCookie, flowCookie, openFlow, sealFlow, type FlowState } from './login-page/flow-cookie.js';
import { pageFetch } from './login-page/fetch.js';
import { securityHeaders, sendHtml } from './login-page/html.js';
import { kubeconfigYaml } from './login-page/kubeconfig.js';
import { CALLBACK_PATH, errorPage, KUBECONFIG_PATH, LOGIN_PATH, redirectPage, signedInPage } from './login-page/pages.js';
import type { LoginPageSettings } from './login-page/settings.js';

export { LOGIN_PAGE_ERRORS, LoginPageError, type LoginPageErrorCode } from './login-page/errors.js';
export { loginPageSettings, type KubeconfigSettings, type LoginPageSettings } from './login-page/settings.js';
export { CALLBACK_PATH, KUBECONFIG_PATH, LOGIN_PATH } from './login-page/pages.js';

export interface LoginPageDeps {
  /**
   * Verified ID-token claims → the identity kubegate impersonates: identity/structured.ts
   * `mapStructuredClaims` with the issuer's rules (the same the authenticator uses). Its KubegateErrors are shown as "kubegate would
   * refuse this identity".
   */
  mapClaims(claims: Claims): UserInfo;
  /** Operational log (sign-ins at info, failures at info/warn); default: silent. */
  log?: Logger;
  /** Clock for the flow cookie's expiry, in ms (default Date.now). */
  now?: () => number;
}

export interface LoginPage {
  /** Whether a request target is the sign-in page's (`/kubegate/login` and below, any query). */
  handles(url: string): boolean;
  /** Answer one request; never rejects (errors become pages). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Release the connections to the identity provider. */
  close(): void;
}

/** Callback parameters that must not repeat (a repeated one is a crafted response). */
const SINGLE_PARAMS = ['code', 'state', 'error', 'error_description', 'iss'];
const MAX_DETAIL = 300;

/**
 * The sign-in page. Discovery runs on the first request (and again after a failure), so a kubegate whose
 * identity provider is down still starts.
 */
export function createLoginPage(settings: LoginPageSettings, deps: LoginPageDeps): LoginPage {
  const log = deps.log ?? silentLogger();
  const now = deps.now ?? Date.now;
  const key = settings.cookieKey ?? new Uint8Array(randomBytes(32));
  const fetch = pageFetch(settings.issuerCa);
  const redirectUri = `${settings.publicUrl}${CALLBACK_PATH}`;
  const kubeconfig = kubeconfigYaml(settings.kubeconfig);
  let discovered: Promise<client.Configuration> | undefined;

  const configuration = (): Promise<client.Configuration> => {
    discovered ??= client
      .discovery(
        new URL(settings.issuerUrl),
        settings.clientId,
        settings.clientSecret === undefined ? undefined : { client_secret: settings.clientSecret },
        clientAuth(settings),
        // Verify the ID token's signature against the issuer's keys too, not only TLS to the token endpoint.
        { [client.customFetch]: fetch, timeout: 10, execute: [client.enableNonRepudiationChecks] },
      )
      .catch((err: unknown) => {
        discovered = undefined;
        throw new LoginPageError('LOGIN_PROVIDER_UNAVAILABLE', `discovery of ${settings.issuerUrl} failed: ${(err as Error).message}`, { cause: err });
      });
    return discovered;
  };

  /** GET /kubegate/login: a new flow, sealed into the cookie, and off to the identity provider. */
  const start = async (res: ServerResponse, head: boolean): Promise<void> => {
    const config = await configuration();
    const flow: FlowState = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier() };
    const location = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: settings.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(flow.codeVerifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    }).href;
    const sealed = await sealFlow(flow, key, now(), settings.flowTimeoutSeconds);
    sendHtml(res, 303, redirectPage(location), { location, 'set-cookie': flowCookie(sealed, settings.flowTimeoutSeconds) }, head);
  };

  /** GET /kubegate/login/callback: the identity provider's answer. */
  const callback = async (req: IncomingMessage, res: ServerResponse, search: string, head: boolean): Promise<void> => {
    const params = new URLSearchParams(search);
    if (SINGLE_PARAMS.some((name) => params.getAll(name).length > 1)) throw new LoginPageError('LOGIN_CALLBACK_INVALID', 'callback repeats a parameter');
    const error = params.get('error');
    const opened = await openFlow(req.headers.cookie, key, now());
    if (!opened.ok) {
      // Without this browser's flow the IdP's error text cannot be trusted to be about this person: code only.
      if (error !== null) throw providerError(error, undefined);
      if (opened.reason === 'expired') throw new LoginPageError('LOGIN_FLOW_EXPIRED', 'flow cookie expired');
      if (opened.reason === 'invalid') throw new LoginPageError('LOGIN_FLOW_INVALID', 'flow cookie does not open: started by another kubegate (set loginPage.cookieKeyFile on every replica), or altered');
      throw new LoginPageError('LOGIN_FLOW_MISSING', 'callback without a flow cookie');
    }
    const { flow } = opened;
    const state = params.get('state');
    if (state === null || !sameText(state, flow.state)) throw new LoginPageError('LOGIN_STATE_MISMATCH', 'callback state differs from the flow cookie\'s');
    if (error !== null) throw providerError(error, params.get('error_description') ?? undefined);
    if (params.get('code') === null) throw new LoginPageError('LOGIN_CALLBACK_INVALID', 'callback has neither code nor error');

    const config = await configuration();
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, new URL(`${redirectUri}${search}`), {
        pkceCodeVerifier: flow.codeVerifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw grantError(err);
    }
    const claims = tokens.claims();
    if (claims === undefined || tokens.id_token === undefined) throw new LoginPageError('LOGIN_ID_TOKEN_INVALID', 'token response without an ID token');
    const user = identity(settings, deps, claims, signingAlg(tokens.id_token));
    log.info('login page: signed in', { username: user.username, groups: user.groups.length, issuer: settings.issuerUrl });
    sendHtml(
      res,
      200,
      signedInPage({ user, claims, issuerUrl: settings.issuerUrl, clientId: settings.clientId, kubeconfig: settings.kubeconfig, kubeconfigYaml: kubeconfig }),
      { 'set-cookie': clearedFlowCookie() },
      head,
    );
  };

  const sendKubeconfig = (res: ServerResponse, head: boolean): void => {
    res.writeHead(200, {
      ...securityHeaders(),
      'content-type': 'application/yaml; charset=utf-8',
      'content-disposition': `attachment; filename="${settings.kubeconfig.name}.kubeconfig"`,
      'content-length': String(Buffer.byteLength(kubeconfig)),
    });
    if (head) res.end();
    else res.end(kubeconfig);
  };

  return {
    handles(url) {
      const path = pathOf(url);
      return path === LOGIN_PATH || path.startsWith(`${LOGIN_PATH}/`);
    },

    async handle(req, res) {
      const target = req.url ?? '/';
      const path = pathOf(target);
      const search = target.startsWith('?', path.length) ? target.slice(path.length) : '';
      const head = req.method === 'HEAD';
      try {
        if (req.method !== 'GET' && !head) throw new LoginPageError('LOGIN_METHOD_NOT_ALLOWED', `${req.method ?? '?'} ${path}`);
        if (path === LOGIN_PATH || path === `${LOGIN_PATH}/`) return await start(res, head);
        if (path === CALLBACK_PATH) return await callback(req, res, search, head);
        if (path === KUBECONFIG_PATH) return sendKubeconfig(res, head);
        throw new LoginPageError('LOGIN_NOT_FOUND', `no page at ${path.slice(0, 120)}`);
      } catch (thrown) {
        const err = thrown instanceof LoginPageError ? thrown : new LoginPageError('LOGIN_INTERNAL', 'unexpected error', { cause: thrown });
        log.log(err.status >= 500 ? 'warn' : 'info', 'login page: refused', {
          code: err.code,
          reason: err.message,
          ...(err.cause === undefined ? {} : { cause: causeChain(err.cause) }),
        });
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const headers: Record<string, string> = { 'kubegate-error': err.code };
        // A flow is used once, whatever the outcome.
        if (path === CALLBACK_PATH) headers['set-cookie'] = clearedFlowCookie();
        if (err.code === 'LOGIN_METHOD_NOT_ALLOWED') headers.allow = 'GET, HEAD';
        sendHtml(res, err.status, errorPage(err.code, err.detail), headers, head);
      }
    },

    close() {
      fetch.close();
    },
  };
}

function clientAuth(s: LoginPageSettings): client.ClientAuth {
  if (s.clientSecret === undefined) return client.None();
  return s.clientAuthMethod === 'client_secret_post' ? client.ClientSecretPost(s.clientSecret) : client.ClientSecretBasic(s.clientSecret);
}

/** The identity kubegate would impersonate for these claims, or why kubegate would refuse the token. */
function identity(s: LoginPageSettings, deps: LoginPageDeps, claims: Claims, alg: string): UserInfo {
  if (!s.signingAlgs.includes(alg)) {
    throw new LoginPageError('LOGIN_IDENTITY_REFUSED', `ID token signed with ${alg}, not one of oidc.signingAlgs`, {
      detail: `Your identity provider signs ID tokens with ${alg.slice(0, 16)}; kubegate accepts ${s.signingAlgs.join(', ')} (setting oidc.signingAlgs).`,
    });
  }
  for (const [name, expected] of Object.entries(s.requiredClaims)) {
    if (claims[name] !== expected) {
      throw new LoginPageError('LOGIN_IDENTITY_REFUSED', `required claim ${name} missing or different`, {
        detail: `Your token must carry the claim ${name}=${JSON.stringify(expected)}${claims[name] === undefined ? ' and has no such claim' : `; it has ${JSON.stringify(claims[name])}`}.`.slice(0, MAX_DETAIL),
      });
    }
  }
  try {
    return deps.mapClaims(claims);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'AUTHN_CLAIMS' || code === 'IDENTITY_RESERVED' || code === 'IDENTITY_INVALID') {
      // The person's own token: they may know which claim is wrong (API clients only ever see "Unauthorized").
      throw new LoginPageError('LOGIN_IDENTITY_REFUSED', `claims mapping refused: ${(err as Error).message}`, { cause: err, detail: reason(err) });
    }
    throw err;
  }
}

/** The `alg` of a verified compact JWS (openid-client checked it already). */
function signingAlg(jws: string): string {
  try {
    const header = JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8')) as { alg?: unknown };
    return typeof header.alg === 'string' ? header.alg : '';
  } catch {
    return '';
  }
}

function reason(err: unknown): string {
  const e = err as { message: string; details?: Record<string, unknown> };
  const name = typeof e.details?.name === 'string' ? ` (${e.details.name})` : '';
  return `${e.message}${name}.`.slice(0, MAX_DETAIL);
}

/** An `error=` from the identity provider; its description only when the response is this browser's. */
function providerError(error: string, description: string | undefined): LoginPageError {
  const code = error === 'access_denied' ? 'LOGIN_ACCESS_DENIED' : 'LOGIN_PROVIDER_ERROR';
  // Error codes are short snake_case words (RFC 6749 §4.1.2.1); anything else is not repeated.
  const name = /^[a-z_]{1,40}$/.test(error) ? error : 'an unrecognised error';
  const text = `The identity provider answered ${name}${description ? `: ${description}` : ''}`.slice(0, MAX_DETAIL);
  return new LoginPageError(code, `identity provider returned error=${JSON.stringify(error.slice(0, 64))}`, { detail: text });
}

/** openid-client's errors from the code exchange, translated once. */
function grantError(err: unknown): LoginPageError {
  if (err instanceof client.WWWAuthenticateChallengeError || (err instanceof client.ResponseBodyError && err.error === 'invalid_client')) {
    return new LoginPageError('LOGIN_CLIENT_REJECTED', `token endpoint refused the page's client credentials (HTTP ${err.status}); check loginPage.clientId, clientSecretFile and clientAuthMethod`, { cause: err });
  }
  if (err instanceof client.ResponseBodyError) {
    if (err.status >= 500) return new LoginPageError('LOGIN_PROVIDER_UNAVAILABLE', `token endpoint answered ${err.status} ${err.error}`, { cause: err });
    return new LoginPageError('LOGIN_CODE_REJECTED', `token endpoint refused the code: ${err.error}${err.error_description ? ` (${err.error_description})` : ''}`, {
      cause: err,
      detail: `The identity provider answered ${err.error.slice(0, 64)}.`,
    });
  }
  if (err instanceof client.AuthorizationResponseError) return providerError(err.error, err.error_description);
  const code = (err as { code?: unknown }).code;
  if (err instanceof client.ClientError && typeof code === 'string' && !UNAVAILABLE.has(code)) {
    return new LoginPageError('LOGIN_ID_TOKEN_INVALID', `token response rejected: ${code}: ${err.message}`, { cause: err });
  }
  if (err instanceof client.ClientError || (err instanceof TypeError && /fetch failed/.test(err.message))) {
    return new LoginPageError('LOGIN_PROVIDER_UNAVAILABLE', `token endpoint unreachable: ${(err as Error).message}`, { cause: err });
  }
  return new LoginPageError('LOGIN_INTERNAL', 'code exchange failed unexpectedly', { cause: err });
}

/** openid-client codes that mean the identity provider could not be reached or answered nonsense. */
const UNAVAILABLE = new Set(['OAUTH_TIMEOUT', 'OAUTH_ABORT', 'OAUTH_RESPONSE_IS_NOT_CONFORM', 'OAUTH_RESPONSE_IS_NOT_JSON']);

/** The messages of an error and its causes, outermost first (openid-client wraps network errors). */
function causeChain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    parts.push(e instanceof Error ? `${e.message}${typeof code === 'string' ? ` (${code})` : ''}` : String(e));
  }
  return parts.join(': ');
}

function pathOf(url: string): string {
  const q = url.search(/[?#]/);
  return q < 0 ? url : url.slice(0, q);
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
