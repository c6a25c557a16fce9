import { Environment } from '@marcbachmann/cel-js';
import { celEnv, parse, plan, isCelError, run } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
const claims = { exp: 1703232949, nbf: 1701107233, roles: 'user,admin', sub: 'auth', tid: 't1', username: 'foo', groups: ['a','b','c','d','e','f','g','h'], email: 'x@y', email_verified: true, hd: 'example.com' };
const exprs = [
  'claims.username + ":external-user"', 'claims.roles.split(",")', 'claims.sub',
  'claims.exp - claims.nbf <= 86400', 'claims.hd == "example.com"', 'claims.?foo.orValue("d")',
  'claims.groups.map(g, "oidc:" + g)', 'claims.groups.filter(g, g.startsWith("a"))', 'claims.groups.exists(g, g == "a")', 'claims.groups.all(g, !g.startsWith("system:"))',
  "has(claims.email) ? claims.email : ''", "claims.email_verified == true", 'claims.sub.matches("^a")', 'claims.username.lowerAscii()',
];
const N = 20000;
const env = new Environment({ enableOptionalTypes: true, homogeneousAggregateLiterals: false } as any).registerVariable('claims', 'map');
const benv = celEnv({ funcs: strings } as any);
const bclaims = new Map(Object.entries(claims).map(([k, v]) => [k, Array.isArray(v) ? v : v]));
for (const e of exprs) {
  let mRes: string, bRes: string;
  // cel-js
  let t0 = performance.now(); let p: any; for (let i = 0; i < 200; i++) { try { p = env.parse(e); } catch (err) { p = undefined; mRes = 'ERR ' + (err as Error).message.split('\n')[0]; break; } }
  const mCompile = (performance.now() - t0) / 200;
  let mEval = NaN;
  if (p) { try { mRes = JSON.stringify(p({ claims }), (_k, v) => typeof v === 'bigint' ? Number(v) : v); t0 = performance.now(); for (let i = 0; i < N; i++) p({ claims }); mEval = (performance.now() - t0) * 1000 / N; } catch (err) { mRes = 'ERR ' + (err as Error).message.split('\n')[0]; } }
  // bufbuild
  let bp: any; t0 = performance.now();
  for (let i = 0; i < 200; i++) { try { bp = plan(benv as any, parse(e)); } catch (err) { bp = undefined; bRes = 'ERR ' + (err as Error).message.split('\n')[0]; break; } }
  const bCompile = (performance.now() - t0) / 200;
  let bEval = NaN;
  if (bp) { const r = bp({ claims }); if (isCelError(r)) bRes = 'ERR ' + String((r as any).message); else { bRes = JSON.stringify(r, (_k, v) => typeof v === 'bigint' ? Number(v) : (v && typeof v === 'object' && typeof v[Symbol.iterator] === 'function' && !Array.isArray(v)) ? [...v] : v); t0 = performance.now(); for (let i = 0; i < N; i++) bp({ claims }); bEval = (performance.now() - t0) * 1000 / N; } }
  console.log(`| \`${e}\` | ${mCompile.toFixed(3)} | ${mEval.toFixed(2)} | ${mRes!.slice(0,40)} | ${bCompile.toFixed(3)} | ${bEval.toFixed(2)} | ${bRes!.slice(0,40)} |`);
}
