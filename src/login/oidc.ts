/**
 * Talking to the identity provider, through openid-client v6: discovery, the authorization code flow with
 * PKCE (S256), `state` and `nonce` over a loopback redirect, the device authorization grant, and refresh.
 *
 * Every ID token that comes back is verified before it is returned: openid-client checks `iss`, `aud`,
 * `azp`, `exp`, `iat`, the `nonce` (code flow) and, with non-repudiation checks on, the signature against
 * the issuer's JWKS. After a `--force` sign-in (`max_age=0`) the token's `auth_time` must be fresh.
 * openid-client's errors are translated here, once, into {@link LoginError}s with the original as `cause`.
 *
 * Loaded lazily by login.ts: a cache hit never loads openid-client at all.
 */
import * as client from 'openid-client';
import type { OpenBrowser } from './browser.js';
import { LoginError, type LoginErrorCode } from './errors.js';
import type { IssuerFetch } from '../net/issuer-fetch.js';
import { startLoopback } from './loopback.js';
import type { LoginOptions } from './options.js';

/** A verified token response. */
export interface Tokens {
  idToken: string;
  refreshToken?: string | undefined;
  sub: string;
  exp: number;
  iat: number;
  authTime?: number | undefined;
}

export interface SignInIo {
  /** A line for the person (stderr). */
  progress(line: string): void;
  openBrowser: OpenBrowser;
  /** How long to wait for the browser's callback (code flow). */
  callbackTimeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** Seconds of clock difference with the issuer tolerated when checking `auth_time` after `--force`. */
const AUTH_TIME_TOLERANCE_SECONDS = 60;
/** The device flow never waits longer than this, whatever the issuer's `expires_in`. */
const DEVICE_FLOW_MAX_MS = 30 * 60_000;

/**
 * Fetch the issuer's discovery document and make a client configuration: a public client (`none`), or
 * `client_secret_post` with `clientSecret`. Signature checks of ID tokens are switched on.
 * @throws LoginError ISSUER_UNREACHABLE, ISSUER_INVALID (e.g. `issuer` in the document differs).
 */
export async function discover(opts: Pick<LoginOptions, 'issuer' | 'clientId' | 'clientSecret'>, fetch: IssuerFetch): Promise<client.Configuration> {
  let server: URL;
  try {
    server = new URL(opts.issuer);
  } catch (err) {
    throw new LoginError('ISSUER_INVALID', `--issuer ${JSON.stringify(opts.issuer)} is not a URL`, { cause: err });
  }
  try {
    return await client.discovery(
      server,
      opts.clientId,
      opts.clientSecret === undefined ? undefined : { client_secret: opts.clientSecret },
      opts.clientSecret === undefined ? client.None() : client.ClientSecretPost(opts.clientSecret),
      { [client.customFetch]: fetch as client.CustomFetch, execute: [client.enableNonRepudiationChecks] },
    );
  } catch (err) {
    throw translate(err, `discovery of ${opts.issuer}`, 'ISSUER_INVALID');
  }
}

/** The authorization request parameters besides the flow's own: prompt, max_age and `--auth-param`s. */
export function authorizationParameters(opts: Pick<LoginOptions, 'scopes' | 'force' | 'authParams'>): Record<string, string> {
  const params: Record<string, string> = { ...opts.authParams };
  // OIDC Core §11: a refresh token for offline_access needs prompt=consent, unless the person says otherwise.
  let prompts = new Set((params.prompt ?? (opts.scopes.includes('offline_access') ? 'consent' : '')).split(' ').filter(Boolean));
  if (opts.force) {
    prompts.delete('none');
    prompts = new Set(['login', ...prompts]);
    params.max_age = '0';
  }
  if (prompts.size) params.prompt = [...prompts].join(' ');
  else delete params.prompt;
  for (const [k, v] of Object.entries(params)) if (v === '') delete params[k];
  return params;
}

/**
 * The authorization code flow: listen on the loopback, open the browser (and print the URL), wait for
 * the callback, redeem the code, verify the ID token.
 * @throws LoginError LOOPBACK_FAILED, LOGIN_TIMEOUT, INTERRUPTED, AUTHORIZATION_FAILED, TOKEN_INVALID,
 *   ISSUER_UNREACHABLE.
 */
export async function signInWithCode(config: client.Configuration, opts: LoginOptions, io: SignInIo): Promise<Tokens> {
  const loopback = await startLoopback(opts.listenPort);
  try {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      ...authorizationParameters(opts),
      redirect_uri: loopback.redirectUri,
      response_type: 'code',
      scope: opts.scopes.join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const started = Math.floor(Date.now() / 1000);
    // Listen for the callback before the browser can possibly reach it.
    const arrived = loopback.waitForCallback({ state, timeoutMs: io.callbackTimeoutMs, signal: io.signal });
    arrived.catch(() => undefined);
    const opened = await io.openBrowser(url.href);
    io.progress(opened
      ? `Opened the browser to sign in to ${opts.issuer}. If it did not open, visit this URL:\n\n  ${url.href}\n`
      : `Open this URL in a browser to sign in to ${opts.issuer}:\n\n  ${url.href}\n\n(The browser must run on this machine: it comes back to ${loopback.redirectUri}. Over SSH or without a browser, use --grant device.)`);
    io.progress(`Waiting for the browser to come back to ${loopback.redirectUri} ...`);
    const callback = await arrived;
    try {
      const response = await client.authorizationCodeGrant(config, callback.url, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
        ...(opts.force ? { maxAge: 0 } : {}),
      });
      const tokens = verified(response, 'the sign-in');
      if (opts.force) checkFresh(tokens, started);
      callback.respond(true, 'You are signed in to kubegate. You can close this tab and go back to the terminal.');
      return tokens;
    } catch (err) {
      const e = translate(err, 'the sign-in', 'AUTHORIZATION_FAILED');
      callback.respond(false, `${e.message}. Go back to the terminal.`);
      throw e;
    }
  } finally {
    await loopback.close();
  }
}

/**
 * The device authorization grant: print the verification URI and the user code on stderr, then poll
 * the token endpoint until the person approves (or the code expires).
 * @throws LoginError GRANT_UNSUPPORTED when the issuer does not advertise it; AUTHORIZATION_FAILED
 *   (denied, expired), TOKEN_INVALID, ISSUER_UNREACHABLE, INTERRUPTED.
 */
export async function signInWithDevice(config: client.Configuration, opts: LoginOptions, io: SignInIo): Promise<Tokens> {
  if (!config.serverMetadata().device_authorization_endpoint) {
    throw new LoginError('GRANT_UNSUPPORTED', `${opts.issuer} does not advertise the device authorization grant (no device_authorization_endpoint): use --grant code`);
  }
  const started = Math.floor(Date.now() / 1000);
  let device: client.DeviceAuthorizationResponse;
  try {
    device = await client.initiateDeviceAuthorization(config, { ...authorizationParameters(opts), scope: opts.scopes.join(' ') });
  } catch (err) {
    throw translate(err, 'the device authorization request', 'AUTHORIZATION_FAILED');
  }
  const minutes = Math.max(1, Math.round(device.expires_in / 60));
  io.progress([
    `To sign in to ${opts.issuer}, open this URL on any device:`,
    '',
    `  ${device.verification_uri}`,
    '',
    `and enter the code: ${device.user_code}`,
    ...(device.verification_uri_complete ? ['', 'or open this URL, which carries the code:', '', `  ${device.verification_uri_complete}`] : []),
    '',
    `Waiting for you to approve (the code expires in ${minutes} minute${minutes === 1 ? '' : 's'}) ...`,
  ].join('\n'));
  const limit = AbortSignal.timeout(Math.min(device.expires_in * 1000, DEVICE_FLOW_MAX_MS));
  const signal = io.signal ? AbortSignal.any([limit, io.signal]) : limit;
  try {
    const response = await client.pollDeviceAuthorizationGrant(config, device, undefined, { signal });
    const tokens = verified(response, 'the device sign-in');
    if (opts.force) checkFresh(tokens, started);
    return tokens;
  } catch (err) {
    if (io.signal?.aborted) throw new LoginError('INTERRUPTED', 'interrupted while waiting for the device sign-in');
    if (limit.aborted) throw new LoginError('LOGIN_TIMEOUT', `the device code was not approved within ${minutes} minute${minutes === 1 ? '' : 's'}`, { cause: err });
    throw translate(err, 'the device sign-in', 'AUTHORIZATION_FAILED');
  }
}

/**
 * Redeem a refresh token. The new ID token must be for the same `sub`.
 * @throws LoginError AUTHORIZATION_FAILED (e.g. invalid_grant: revoked or expired), TOKEN_INVALID (no ID
 *   token in the answer, another subject, verification failed), ISSUER_UNREACHABLE.
 */
export async function refresh(config: client.Configuration, refreshToken: string, expectedSub: string): Promise<Tokens> {
  let tokens: Tokens;
  try {
    tokens = verified(await client.refreshTokenGrant(config, refreshToken), 'the refresh');
  } catch (err) {
    throw translate(err, 'the refresh', 'AUTHORIZATION_FAILED');
  }
  if (tokens.sub !== expectedSub) throw new LoginError('TOKEN_INVALID', 'the refreshed ID token is for another subject than the cached one');
  return { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken };
}

function verified(response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, what: string): Tokens {
  const claims = response.claims();
  if (!response.id_token || !claims) throw new LoginError('TOKEN_INVALID', `${what}: the identity provider returned no ID token (is "openid" among the scopes?)`);
  return {
    idToken: response.id_token,
    refreshToken: response.refresh_token,
    sub: claims.sub,
    exp: claims.exp,
    iat: claims.iat,
    authTime: typeof claims.auth_time === 'number' ? claims.auth_time : undefined,
  };
}

/** After `max_age=0`, the person must have just authenticated. */
function checkFresh(tokens: Tokens, startedAt: number): void {
  if (tokens.authTime === undefined) throw new LoginError('TOKEN_INVALID', 'a fresh sign-in was asked for (max_age=0) but the ID token has no auth_time');
  if (tokens.authTime < startedAt - AUTH_TIME_TOLERANCE_SECONDS) {
    throw new LoginError('TOKEN_INVALID', `a fresh sign-in was asked for (max_age=0) but the identity provider reused a sign-in from ${new Date(tokens.authTime * 1000).toISOString()}`);
  }
}

const NETWORK_CODE = /^(E[A-Z]+|ERR_TLS_|ERR_SSL_|UNABLE_TO_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|UND_ERR_|ERR_SOCKET_)/;
const TOKEN_CODES = new Set(['OAUTH_JWT_CLAIM_COMPARISON_FAILED', 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED', 'OAUTH_KEY_SELECTION_FAILED']);

/** openid-client's (and the network's) errors as a {@link LoginError}; `fallback` for anything else. */
export function translate(err: unknown, what: string, fallback: LoginErrorCode): LoginError {
  if (err instanceof LoginError) return err;
  if (err instanceof client.ResponseBodyError) {
    const detail = `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
    return new LoginError(err.status >= 500 ? 'ISSUER_UNREACHABLE' : 'AUTHORIZATION_FAILED', `${what}: the identity provider answered HTTP ${err.status} ${detail}`, { cause: err });
  }
  if (err instanceof client.AuthorizationResponseError) {
    return new LoginError('AUTHORIZATION_FAILED', `${what}: the identity provider answered ${err.error}${err.error_description ? `: ${err.error_description}` : ''}`, { cause: err });
  }
  const chain = causes(err);
  const network = chain.find((e) => {
    const code = (e as { code?: unknown }).code;
    return (typeof code === 'string' && NETWORK_CODE.test(code)) || e.name === 'TimeoutError' || /^(fetch failed|no answer from|refusing to contact)/.test(e.message);
  });
  if (network) {
    const tls = chain.some((e) => {
      const code = (e as { code?: unknown }).code;
      return typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO|TLS|SSL|DEPTH_ZERO/.test(code);
    });
    const root = chain[chain.length - 1]!;
    return new LoginError('ISSUER_UNREACHABLE', `${what}: ${root.message}${tls ? ' (is --certificate-authority the CA that signs the issuer\'s certificate?)' : ''}`, { cause: err });
  }
  const code = (err as { code?: unknown }).code;
  if (fallback !== 'ISSUER_INVALID' && typeof code === 'string' && (TOKEN_CODES.has(code) || /signature|ID Token|id_token|nonce/i.test(chain.map((e) => e.message).join(' ')))) {
    return new LoginError('TOKEN_INVALID', `${what}: the ID token did not verify: ${chain.map((e) => e.message).join(': ')}`, { cause: err });
  }
  return new LoginError(fallback, `${what}: ${chain.map((e) => e.message).join(': ')}`, { cause: err });
}

function causes(err: unknown): Error[] {
  const out: Error[] = [];
  let e: unknown = err;
  while (e instanceof Error && out.length < 8) {
    out.push(e);
    e = e.cause;
  }
  if (out.length === 0) out.push(new Error(String(err)));
  return out;
}
