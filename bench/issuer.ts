/**
 * Benchmark issuer: discovery + JWKS over HTTPS on loopback with one RS256 and one ES256 key, and a
 * signer for any number of distinct tokens. Fast to mint; the identity provider is not what is measured.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface BenchIssuer {
  url: string;
  sign(alg: 'RS256' | 'ES256', claims: Record<string, unknown>, ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

export async function startBenchIssuer(cert: string, key: string, audience: string): Promise<BenchIssuer> {
  const keys: Record<string, { privateKey: CryptoKey; jwk: JWK }> = {};
  for (const alg of ['RS256', 'ES256'] as const) {
    const pair = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: `bench-${alg}`, alg, use: 'sig' };
    keys[alg] = { privateKey: pair.privateKey, jwk };
  }
  let url = '';
  const server: Server = createServer({ cert, key }, (req, res) => {
    const body =
      req.url === '/.well-known/openid-configuration'
        ? { issuer: url, jwks_uri: `${url}/jwks`, authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256', 'ES256'] }
        : req.url === '/jwks'
          ? { keys: Object.values(keys).map((k) => k.jwk) }
          : undefined;
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    sign(alg, claims, ttlSeconds = 3600) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg, kid: `bench-${alg}`, typ: 'JWT' })
        .setIssuer(url)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(keys[alg]!.privateKey);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
