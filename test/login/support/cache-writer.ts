/**
 * A child process for the cache tests: `cache-writer.ts DIR N TAG` writes the same cache entry N times,
 * its idToken tagged with TAG and a sequence number, then exits.
 */
import { openTokenCache } from '../../../src/login/cache.js';

const [dir = '', n = '0', tag = ''] = process.argv.slice(2);
const cache = openTokenCache(dir);
for (let i = 0; i < Number(n); i++) {
  cache.write({
    version: 1,
    issuer: 'https://idp.example',
    clientId: 'kubegate',
    scopes: ['openid'],
    idToken: `${tag}-${i}-${'x'.repeat(4096)}`,
    refreshToken: 'r',
    subject: 'alice',
    exp: 2_000_000_000,
    iat: 1_999_999_000,
  });
}
