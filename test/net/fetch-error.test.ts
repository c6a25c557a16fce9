/**
 * Reaching the identity provider fails for a reason, and the log says which one in plain words: connection
 * refused, DNS, timeout, an untrusted certificate (naming the CA that was used and suggesting
 * --oidc-ca-file), and an issuer mismatch (configured and discovered side by side). Real sockets, real TLS
 * on 127.0.0.1, the real authenticator; never `fetch failed` or `something went wrong`.
 */
import t from 'tap';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { fetchTrusting } from '../../src/authn/fetch.js';
import { createOidcAuthenticator } from '../../src/authn/oidc.js';
import { describeFetchError, issuerMismatch } from '../../src/net/fetch-error.js';
import { startJwksIssuer } from '../support/jwks-issuer.js';
import { captureLogger } from '../support/logs.js';
import { createPki } from '../support/pki.js';
import { eventually } from '../support/wait.js';

const failure = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
};

/** A port nobody listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

t.test('connection refused names the address', async (t) => {
  const port = await closedPort();
  for (const ca of [undefined, createPki().ca]) {
    const err = await failure(fetchTrusting(ca)(`https://127.0.0.1:${port}/.well-known/openid-configuration`, {}));
    t.match(err.message, `connection refused by 127.0.0.1:${port}`, ca === undefined ? 'system roots (global fetch)' : 'CA bundle (node:https)');
    t.notMatch(err.message, /fetch failed|something went wrong/);
  }
});

t.test('a host name that does not resolve says DNS', async (t) => {
  const err = await failure(fetchTrusting(undefined)('https://no-such-issuer.invalid/.well-known/openid-configuration', {}));
  t.match(err.message, /the host name no-such-issuer\.invalid (does not resolve|could not be resolved) \(DNS/);
});

t.test('an issuer that accepts the connection but never answers: a timeout with the origin', async (t) => {
  const sockets: net.Socket[] = [];
  const silent = net.createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const { port } = silent.address() as AddressInfo;
  const { issuerFetch } = await import('../../src/net/issuer-fetch.js');
  for (const ca of [undefined, createPki().ca]) {
    const fetch = issuerFetch(ca, { timeoutMs: 300, describeErrors: {} });
    const err = await failure(fetch(`https://127.0.0.1:${port}/`, {}));
    t.match(err.message, `no answer from https://127.0.0.1:${port}`, ca === undefined ? 'global fetch' : 'node:https');
    fetch.close();
  }
});

t.test('an untrusted certificate says which CA was used and suggests --oidc-ca-file', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  const url = `${issuer.issuer}/.well-known/openid-configuration`;

  const bySystemRoots = await failure(fetchTrusting(undefined)(url, {}));
  t.match(bySystemRoots.message, `the TLS certificate of ${issuer.issuer} is not trusted by the system roots`);
  t.match(bySystemRoots.message, /\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
  t.match(bySystemRoots.message, 'give the CA that signed it with --oidc-ca-file');

  const other = createPki();
  t.teardown(() => other.cleanup());
  const byWrongCa = await failure(fetchTrusting(other.ca, other.caFile)(url, {}));
  t.match(byWrongCa.message, `is not trusted by the CA file ${other.caFile} (CN=`);
  t.match(byWrongCa.message, '--oidc-ca-file');

  t.ok((await fetchTrusting(issuer.ca)(url, {})).ok, 'control: the right CA works');
});

t.test('an issuer mismatch shows both issuers and points out a trailing slash', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const tls = pki.server();
  let origin = '';
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    if (req.url !== '/realms/dev/.well-known/openid-configuration') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: `${origin}/realms/dev/`, jwks_uri: `${origin}/realms/dev/jwks` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const configured = `${origin}/realms/dev`;
  const { log, lines } = captureLogger();
  const authn = createOidcAuthenticator(
    {
      issuerUrl: configured,
      clientId: 'kubegate',
      ca: pki.ca,
      signingAlgs: ['RS256'],
      requiredClaims: {},
      clockSkewSeconds: 10,
      retrySeconds: 60,
      usernameClaim: 'email',
      groupsPrefix: '',
      extraClaims: {},
      allowSystemNames: false,
    },
    log,
  );
  t.teardown(() => authn.close());
  await eventually('the discovery failure log line', () => lines.some((l) => l.message === 'oidc discovery failed; retrying') || undefined, 15_000);
  const line = lines.find((l) => l.message === 'oidc discovery failed; retrying')!;
  t.equal(
    line.error,
    `the issuer's discovery document names another issuer: --oidc-issuer-url is "${configured}", the document says "${configured}/" (they differ only by a trailing slash); set --oidc-issuer-url to exactly "${configured}/", the tokens' iss`,
  );
  t.match(authn.keyStatus().lastError, 'differ only by a trailing slash', '/readyz carries it too');

  t.notMatch(issuerMismatch('https://a.example.com', 'https://b.example.com'), 'trailing slash', 'no slash note when they differ otherwise');
});

t.test('anything unknown keeps its innermost message instead of "fetch failed"', async (t) => {
  const err = new TypeError('fetch failed', { cause: new Error('odd socket failure') });
  t.equal(describeFetchError(err, { url: 'https://idp.example.com/x' }), 'request to https://idp.example.com failed: odd socket failure');
});

t.test('each known code in words (as undici, node:https and openid-client wrap them)', async (t) => {
  const coded = (code: string) => Object.assign(new Error(`x ${code}`), { code });
  const viaFetch = (code: string) => new TypeError('fetch failed', { cause: coded(code) });
  const viaOpenid = (inner: Error) => Object.assign(new Error('something went wrong'), { cause: inner });
  const url = 'https://idp.example.com:8443/.well-known/openid-configuration';
  const cases: [unknown, string][] = [
    [viaOpenid(viaFetch('EAI_AGAIN')), 'the host name idp.example.com could not be resolved (DNS did not answer)'],
    [coded('ECONNRESET'), 'https://idp.example.com:8443 closed the connection before answering'],
    [coded('EHOSTUNREACH'), 'is unreachable from here (EHOSTUNREACH)'],
    [viaFetch('ERR_TLS_CERT_ALTNAME_INVALID'), 'does not name the host idp.example.com'],
    [coded('CERT_HAS_EXPIRED'), 'has expired'],
    [coded('CERT_NOT_YET_VALID'), "not valid yet (check this machine's clock)"],
    [coded('ERR_SSL_WRONG_VERSION_NUMBER'), 'did not answer with TLS'],
    [viaFetch('UND_ERR_CONNECT_TIMEOUT'), 'no answer from https://idp.example.com:8443 within 5 s (UND_ERR_CONNECT_TIMEOUT)'],
    [viaOpenid(Object.assign(new Error('operation timed out'), { code: 'OAUTH_TIMEOUT' })), 'no answer from https://idp.example.com:8443 within 5 s'],
    [viaOpenid(Object.assign(new Error('not conform'), { code: 'OAUTH_RESPONSE_IS_NOT_CONFORM', cause: new Response(null, { status: 404 }) })), `${url} answered HTTP 404; check the issuer URL`],
    [coded('EWHATEVER'), 'request to https://idp.example.com:8443 failed: x EWHATEVER (EWHATEVER)'],
  ];
  for (const [err, words] of cases) t.match(describeFetchError(err, { url, timeoutMs: 5000 }), words, words);
  t.match(describeFetchError(coded('SELF_SIGNED_CERT_IN_CHAIN'), { url, trust: 'the CA file /x.pem', caFlag: '--certificate-authority' }), 'not trusted by the CA file /x.pem (SELF_SIGNED_CERT_IN_CHAIN); give the CA that signed it with --certificate-authority');
  const { describeCaBundle } = await import('../../src/net/fetch-error.js');
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  t.match(describeCaBundle(pki.ca + pki.ca + pki.ca + pki.ca, pki.caFile), /^the CA file \S+ \(CN=.*, CN=.*, CN=.* and 1 more\)$/);
  t.equal(describeCaBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), 'the CA bundle given (an unreadable certificate)');
});
