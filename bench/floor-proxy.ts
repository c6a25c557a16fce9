/**
 * The floor for a Node.js proxy: node:https in, node:https out over a keep-alive agent, pipe, nothing
 * else (no authentication, no hygiene, no audit). BENCH_FLOOR=http-proxy uses http-proxy instead of a
 * hand-written pipe. Measured beside kubegate so its own cost can be read off.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import httpProxy from 'http-proxy';
import type { AddressInfo } from 'node:net';

const [certFile, keyFile, caFile, target] = process.argv.slice(2) as [string, string, string, string];
const agent = new https.Agent({ keepAlive: true, ca: readFileSync(caFile) });
const proxy = httpProxy.createProxyServer({ target, agent, secure: true, changeOrigin: true });
const useHttpProxy = process.env.BENCH_FLOOR === 'http-proxy';
const server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  if (useHttpProxy) return proxy.web(req, res);
  const up = https.request(target + (req.url ?? '/'), { method: req.method, headers: req.headers, agent }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`));
