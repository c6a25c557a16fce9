/**
 * Build raw configuration from a YAML file, `KUBEGATE_*` environment variables and flags (in that order,
 * later wins), then validate it. This is the only place that reads files or the environment for config.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { FLAGS, envNameForFlag, type FlagName, type FlagSpec } from './flags.js';
import { configError, validateConfig } from './validate.js';
import { KubegateError } from '../errors/errors.js';
import { suggest } from './suggest.js';
import type { Config } from './schema.js';

type Raw = Record<string, unknown>;

export interface LoadedConfig {
  config: Readonly<Config>;
  /** Where the config came from, for check-config. */
  sources: string[];
}

/**
 * Parse `serve`/`check-config` arguments into a validated config.
 * @throws KubegateError CONFIG_INVALID naming every bad or unknown setting.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const issues: string[] = [];
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { config: { type: 'string' } };
  for (const [name, spec] of Object.entries(FLAGS) as [FlagName, FlagSpec][]) {
    options[name] = spec.type === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: spec.type === 'keyValue' };
  }
  // Parse leniently so an unknown flag is reported together with every other problem.
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true }));
  } catch (err) {
    throw configError([(err as Error).message]);
  }
  for (const [name, value] of Object.entries(values)) {
    if (!(name in options)) issues.push(`--${name}: unknown flag${suggest(name, Object.keys(options))}`);
    else if (options[name]!.type === 'string' && (value === true || (Array.isArray(value) && value.includes(true)))) issues.push(`--${name}: needs a value`);
  }
  for (const arg of positionals) issues.push(`${JSON.stringify(arg)}: unexpected argument`);
  // A command line that did not parse: say so and stop (the settings it meant to give would only show up
  // as a cascade of "is required" lines).
  if (issues.length > 0) throw configError(issues);

  const raw: Raw = {};
  const sources: string[] = ['defaults'];
  const configFile = typeof values.config === 'string' ? values.config : env.KUBEGATE_CONFIG;
  if (configFile) {
    let text: string;
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw configError([`${configFile}: cannot read config file: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message.split('\n')[0]}`]);
    }
    let doc: unknown;
    try {
      doc = YAML.parse(text);
    } catch (err) {
      // A file that does not parse: where, and the line itself; nothing else is checked.
      throw new KubegateError('CONFIG_INVALID', yamlError(configFile, text, err), { details: { issues: 1 } });
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) throw configError([`${configFile}: must be a YAML mapping of settings (server:, oidc:, …)`]);
      Object.assign(raw, doc);
    }
    sources.push(`file ${configFile}`);
  }

  for (const [name, spec] of Object.entries(FLAGS) as [FlagName, FlagSpec][]) {
    const envName = envNameForFlag(name);
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '') {
      const value = spec.type === 'keyValue' ? fromEnv.split(',') : fromEnv;
      applyValue(raw, spec, value, envName, issues);
      sources.push(`env ${envName}`);
    }
  }
  for (const [name, spec] of Object.entries(FLAGS) as [FlagName, FlagSpec][]) {
    const value = values[name];
    if (value !== undefined && value !== true || (value === true && spec.type === 'boolean')) applyValue(raw, spec, value, `--${name}`, issues);
  }
  if (Object.keys(values).some((k) => k !== 'config')) sources.push('flags');

  const result = validateConfig(raw);
  if (!result.ok) issues.push(...result.issues);
  if (issues.length > 0 || !result.ok) throw configError(issues);
  return { config: result.config, sources };
}

function applyValue(raw: Raw, spec: FlagSpec, value: unknown, origin: string, issues: string[]): void {
  let converted: unknown = value;
  switch (spec.type) {
    case 'port':
    case 'count':
    case 'seconds': {
      const text = String(value);
      converted = /^\d+$/.test(text) ? Number(text) : NaN;
      if (Number.isNaN(converted)) {
        issues.push(`${spec.path} (${origin}): must be ${spec.type === 'port' ? (spec.path === 'server.workers' ? 'a whole number' : 'a port number between 0 and 65535') : spec.type === 'count' ? 'a whole number' : 'a whole number of seconds'}, not ${JSON.stringify(text)}`);
        return;
      }
      break;
    }
    case 'boolean':
      if (typeof value === 'string') {
        if (value !== 'true' && value !== 'false') {
          issues.push(`${spec.path} (${origin}): must be true or false, got ${JSON.stringify(value)}`);
          return;
        }
        converted = value === 'true';
      }
      break;
    case 'list':
      converted = String(value).split(',').map((s) => s.trim()).filter(Boolean);
      break;
    case 'keyValue': {
      const pairs: Record<string, string> = {};
      for (const item of value as string[]) {
        const eq = item.indexOf('=');
        if (eq <= 0) {
          issues.push(`${spec.path} (${origin}): must be key=value, got ${JSON.stringify(item)}`);
          continue;
        }
        pairs[item.slice(0, eq)] = item.slice(eq + 1);
      }
      converted = pairs;
      break;
    }
    case 'string':
      break;
  }
  setPath(raw, spec.path, converted);
}

function setPath(raw: Raw, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = raw;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Raw;
  }
  node[keys[keys.length - 1]!] = value;
}

/** `FILE:LINE:COLUMN: reason`, then the offending line and a caret under the column. */
function yamlError(file: string, text: string, err: unknown): string {
  const e = err as { message?: string; linePos?: { line: number; col: number }[] };
  const reason = String(e.message ?? err).split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const pos = e.linePos?.[0];
  if (pos === undefined) return `${file}: not valid YAML: ${reason}`;
  const line = text.split(/\r?\n/)[pos.line - 1] ?? '';
  return `${file}:${pos.line}:${pos.col}: not valid YAML: ${reason}\n    ${line}\n    ${' '.repeat(Math.max(0, pos.col - 1))}^`;
}
