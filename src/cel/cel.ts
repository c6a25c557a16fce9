/**
 * CEL for claim validation and mapping, as in Kubernetes' AuthenticationConfiguration: expressions are
 * compiled once (when the configuration is loaded) and evaluated per token (on a token-cache miss only).
 *
 * Library: @marcbachmann/cel-js (see docs/authentication.md for the comparison with @bufbuild/cel): it has
 * the optional syntax Kubernetes users write (`claims.?x.orValue(y)`) and evaluates 3–10× faster.
 *
 * Evaluation is synchronous and cannot be interrupted, so its cost is bounded when the expression is
 * compiled, before it can run:
 * - size: at most {@link CEL_LIMITS}.maxAstNodes nodes and maxDepth nesting;
 * - loops: a macro (`map`, `filter`, `all`, `exists`, `exists_one`) may not appear inside another macro's
 *   body, so the work is linear in the size of the claims, and the claims are bounded by the token, which
 *   fits in a request header (16 KiB in Node) — no quadratic blow-up over a long `groups` list;
 * - regular expressions: the library uses JavaScript RegExp (backtracking, not RE2), so `matches()` takes
 *   a literal pattern only, without backreferences, lookaround, or a quantified group that holds another
 *   quantifier or an alternation (`(a+)+`, `(a|a)*`): the patterns that backtrack exponentially.
 */
import { createRequire } from 'node:module';
import type { Environment } from '@marcbachmann/cel-js';

const require = createRequire(import.meta.url);
/**
 * The library is loaded when the first expression is compiled: only an AuthenticationConfiguration with
 * expressions needs it (about 17 ms of CPU and 1 MB at start-up otherwise). It is an ES module; Node
 * 20.19+ and 22.12+ load those with require() (22.12 alone still prints a one-time ExperimentalWarning for
 * it). Where it lives is checked now, so a missing package still stops start-up; a failure to load it
 * later is thrown, not reported as a bad expression.
 */
const CEL_PATH = require.resolve('@marcbachmann/cel-js');
let library: typeof import('@marcbachmann/cel-js') | undefined;
const celLibrary = () => (library ??= require(CEL_PATH) as typeof import('@marcbachmann/cel-js'));

export const CEL_LIMITS = Object.freeze({ maxAstNodes: 500, maxDepth: 32 });

/** The variables an expression may read: `claims` (validation and mapping) or `user` (user validation). */
export type CelVariable = 'claims' | 'user';

export interface CompiledExpression {
  readonly source: string;
  /** The type the checker inferred (`string`, `bool`, `list<string>`, `dyn`, ...). */
  readonly type: string;
  /** Evaluate; throws an Error with the library's message (e.g. `No such key: x`) when evaluation fails. */
  evaluate(vars: Readonly<Record<string, unknown>>): unknown;
}

export type CompileResult = { ok: true; expression: CompiledExpression } | { ok: false; error: string };

const environments = new Map<CelVariable, Environment>();
function environment(variable: CelVariable): Environment {
  let env = environments.get(variable);
  if (env === undefined) {
    env = new (celLibrary().Environment)({ enableOptionalTypes: true, homogeneousAggregateLiterals: false, limits: { ...CEL_LIMITS } }).registerVariable(variable, 'map');
    environments.set(variable, env);
  }
  return env;
}

const MACROS = new Set(['map', 'filter', 'all', 'exists', 'exists_one']);

/** Compile `source` with the one variable `variable`; a bad expression is a result, not a throw. */
export function compileCel(source: string, variable: CelVariable): CompileResult {
  if (typeof source !== 'string' || source.trim() === '') return { ok: false, error: 'must be a non-empty CEL expression' };
  const env = environment(variable);
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = env.parse(source);
  } catch (err) {
    return { ok: false, error: `compilation failed: ${firstLine(err)}` };
  }
  const check = parsed.check();
  if (!check.valid) return { ok: false, error: `compilation failed: ${firstLine(check.error)}` };
  const problem = costProblem(parsed.ast as unknown as AstNode, 0);
  if (problem !== undefined) return { ok: false, error: problem };
  const type = String(check.type);
  return {
    ok: true,
    expression: Object.freeze({
      source,
      type,
      evaluate: (vars: Readonly<Record<string, unknown>>) => parsed(vars as Record<string, unknown>),
    }),
  };
}

interface AstNode {
  op: string;
  args: unknown;
}

const isNode = (v: unknown): v is AstNode => typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as AstNode).op === 'string';

/** The first reason the expression's cost is not bounded, or undefined. */
function costProblem(node: unknown, macroDepth: number): string | undefined {
  if (Array.isArray(node)) {
    for (const n of node) {
      const p = costProblem(n, macroDepth);
      if (p !== undefined) return p;
    }
    return undefined;
  }
  if (!isNode(node)) return undefined;
  const args = Array.isArray(node.args) ? node.args : [node.args];
  if ((node.op === 'rcall' || node.op === 'call') && typeof args[0] === 'string') {
    const name = args[0];
    if (name === 'matches') {
      const callArgs = node.op === 'rcall' ? (args[2] as unknown[]) : (args[1] as unknown[]).slice(1);
      const pattern = callArgs?.[0];
      if (!isNode(pattern) || pattern.op !== 'value' || typeof pattern.args !== 'string') return 'matches() takes a literal pattern (a string in quotes), so it can be checked when the configuration is loaded';
      const unsafe = unsafePattern(pattern.args);
      if (unsafe !== undefined) return `matches(${JSON.stringify(pattern.args)}): ${unsafe}`;
    }
    if (node.op === 'rcall' && MACROS.has(name)) {
      if (macroDepth >= 1) return `${name}() inside another macro's body is not allowed: nested loops over claims have no cost bound`;
      // The target (args[1]) runs once; the body runs per element.
      return costProblem(args[1], macroDepth) ?? costProblem(args[2], macroDepth + 1);
    }
  }
  return costProblem(args, macroDepth);
}

/** Why a regular expression may backtrack exponentially (or use what RE2 lacks), or undefined. */
export function unsafePattern(pattern: string): string | undefined {
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not allowed';
  if (/\(\?<?[=!]/.test(pattern)) return 'lookahead and lookbehind are not allowed';
  // Walk the groups: a group holding a quantifier or an alternation may not itself be quantified.
  const stack: { risky: boolean }[] = [{ risky: false }];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '[') {
      // Skip a character class.
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
      continue;
    }
    if (c === '(') stack.push({ risky: false });
    else if (c === ')') {
      const group = stack.pop() ?? { risky: false };
      const next = pattern[i + 1];
      const quantified = next === '*' || next === '+' || next === '?' || next === '{';
      if (quantified && group.risky && next !== '?') return 'a repeated group may not contain a repetition or an alternation (exponential backtracking)';
      if (group.risky || quantified) stack[stack.length - 1]!.risky = true;
    } else if (c === '*' || c === '+' || c === '{' || c === '|') stack[stack.length - 1]!.risky = true;
  }
  return undefined;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
}
