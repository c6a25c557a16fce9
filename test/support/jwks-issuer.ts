/**
 * A small discovery + JWKS HTTPS server on 127.0.0.1 standing in for an identity provider whose keys and
 * failures a test controls: publish or withhold keys, make the JWKS endpoint fail (500) or hold requests
 * open, count the JWKS requests it received. Tokens are signed with jose's SignJWT. Loopback only.
 */
import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createPki, type TestPki } from './pki.js';

export interface TestKey {
  readonly kid: string;
  readonly alg: 'RS256';
  readonly privateKey: CryptoKey;
  /** The public JWK as published (kid, alg, use set). */
  readonly jwk: JWK;
}

export type JwksMode = 'ok' | 'fail' | 'hold';

export interface JwksIssuer {
  readonly issuer: string;          // https://127.0.0.1:PORT (exact iss)
  readonly clientId: string;        // 'kubegate'
  readonly caFile: string;          // CA file for its TLS
  readonly ca: string;              // CA PEM
  readonly jwksFetches: number;     // JWKS requests received so far (all, including failed/held ones)
  /** Discovery requests received so far. */
  readonly discoveryFetches: number;
  /** The keys currently published. */
  readonly published: readonly TestKey[];
  /** A new RS256 key with this kid; published at once unless { publish: false }. */
  addKey(kid: string, opts?: { publish?: boolean }): Promise<TestKey>;
  publish(keys: TestKey[]): void;                  // replace the published set
  /** What the JWKS endpoint does: 'ok' serves the keys, 'fail' answers 500, 'hold' keeps each request open until release(). */
  setMode(mode: JwksMode): void;
  /** What the discovery endpoint does: 'ok' serves the document, 'fail' answers 500. */
  setDiscoveryMode(mode: 'ok' | 'fail'): void;
  /** Answer every held request (with the then-current mode's behaviour, 'hold' treated as 'ok'). */
  release(): void;
  /** Resolves once at least n JWKS requests are currently being held. */
  waitForHeld(n?: number): Promise<void>;
  /** A signed ID token: iss/aud set, iat now, exp in 10 min; claims merged in (e.g. { email, email_verified, groups }). */
  sign(key: TestKey, claims: Record<string, unknown>, opts?: { expiresIn?: string }): Promise<string>;
  close(): Promise<void>;
}

/** Start the issuer (its own throwaway PKI unless one is given; removed by close()). */
export async function startJwksIssuer(opts: { pki?: TestPki } = {}): Promise<JwksIssuer> {
  const ownPki = opts.pki === undefined;
  const pki = opts.pki ?? createPki();
  const tls = pki.server('jwks-issuer');
  let issuer = '';
  let published: TestKey[] = [];
  let mode: JwksMode = 'ok';
  let discoveryMode: 'ok' | 'fail' = 'ok';
  let jwksFetches = 0;
  let discoveryFetches = 0;
  const held: ServerResponse[] = [];
  const heldWaiters: { n: number; resolve: () => void }[] = [];

  const send = (res: ServerResponse, status: number, body: unknown) => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const answerJwks = (res: ServerResponse, as: JwksMode) => {
    if (as === 'fail') send(res, 500, { error: 'server_error' });
    else send(res, 200, { keys: published.map((k) => k.jwk) });
  };
  const notifyHeld = () => {
    for (const w of [...heldWaiters]) {
      if (held.length >= w.n) {
        heldWaiters.splice(heldWaiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };

  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/.well-known/openid-configuration') {
      discoveryFetches++;
      if (discoveryMode === 'fail') return send(res, 500, { error: 'server_error' });
      return send(res, 200, {
        issuer,
        jwks_uri: `${issuer}/jwks`,
        authorization_endpoint: `${issuer}/auth`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (path === '/jwks') {
      jwksFetches++;
      if (mode !== 'hold') return answerJwks(res, mode);
      held.push(res);
      res.once('close', () => {
        const i = held.indexOf(res);
        if (i >= 0) held.splice(i, 1);
      });
      notifyHeld();
      return;
    }
    send(res, 404, { error: 'not_found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed = false;

  return {
    issuer,
    clientId: 'kubegate',
    caFile: pki.caFile,
    ca: pki.ca,
    get jwksFetches() {
      return jwksFetches;
    },
    get discoveryFetches() {
      return discoveryFetches;
    },
    get published() {
      return [...published];
    },
    async addKey(kid, o = {}) {
      const pair = await generateKeyPair('RS256', { extractable: true });
      const key: TestKey = { kid, alg: 'RS256', privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' } };
      if (o.publish !== false) published = [...published, key];
      return key;
    },
    publish(keys) {
      published = [...keys];
    },
    setMode(m) {
      mode = m;
    },
    setDiscoveryMode(m) {
      discoveryMode = m;
    },
    release() {
      for (const res of held.splice(0)) answerJwks(res, mode === 'hold' ? 'ok' : mode);
    },
    waitForHeld(n = 1) {
      if (held.length >= n) return Promise.resolve();
      return new Promise<void>((resolve) => heldWaiters.push({ n, resolve }));
    },
    async sign(key, claims, o = {}) {
      // iss/aud/iat/exp given in `claims` win (for wrong-issuer, future-iat or expired-token cases).
      const jwt = new SignJWT({ iss: issuer, aud: 'kubegate', ...claims }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' });
      if (claims.iat === undefined) jwt.setIssuedAt();
      if (claims.exp === undefined) jwt.setExpirationTime(o.expiresIn ?? '10m');
      return jwt.sign(key.privateKey);
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
