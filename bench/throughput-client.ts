/**
 * Closed-loop load (autocannon) as its own process. argv[2]: JSON {url, connections, seconds, tokenFile?}.
 * With tokenFile (one token per line), every request takes the next token round-robin.
 * Prints JSON {rps, p50ms, p99ms, non2xx, errors}. Trust for the server's CA comes from NODE_EXTRA_CA_CERTS.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const opts = JSON.parse(process.argv[2]!) as { url: string; connections: number; seconds: number; tokenFile?: string; token?: string };
const tokens = opts.tokenFile ? readFileSync(opts.tokenFile, 'utf8').split('\n').filter(Boolean) : opts.token ? [opts.token] : [];
let next = 0;
const result = await autocannon({
  url: opts.url,
  connections: opts.connections,
  duration: opts.seconds,
  requests: [
    {
      method: 'GET',
      setupRequest: (req) => {
        if (tokens.length > 0) req.headers = { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` };
        return req;
      },
    },
  ],
});
process.stdout.write(
  JSON.stringify({ rps: result.requests.average, p50ms: result.latency.p50, p99ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors + result.timeouts }) + '\n',
);
