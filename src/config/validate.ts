import type { z } from 'zod';
import { KubegateError } from '../errors/errors.js';
import { configSchema, type Config } from './schema.js';
import { flagForPath } from './flags.js';

export type ValidationResult = { ok: true; config: Readonly<Config> } | { ok: false; issues: string[] };

/**
 * Validate raw configuration (from YAML, env and flags merged). Pure: it opens no file and makes no
 * request. Returns a deeply frozen config, or every problem found, each as
 * `path (--flag): message`.
 */
export function validateConfig(raw: unknown): ValidationResult {
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  if (parsed.success) return { ok: true, config: deepFreeze(parsed.data) };
  return { ok: false, issues: parsed.error.issues.map(describeIssue) };
}

/** Like {@link validateConfig} but throws CONFIG_INVALID listing every issue. */
export function validateConfigOrThrow(raw: unknown): Readonly<Config> {
  const result = validateConfig(raw);
  if (result.ok) return result.config;
  throw configError(result.issues);
}

export function configError(issues: string[]): KubegateError {
  return new KubegateError('CONFIG_INVALID', `invalid configuration:\n  - ${issues.join('\n  - ')}`, {
    details: { issues: issues.length },
  });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const segments = issue.path.map(String);
  let path = segments.join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `${keys.join(', ')}: unknown setting${keys.length > 1 ? 's' : ''}`;
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'is required';
  else if (/^(Invalid input|Invalid option|Too (big|small))/.test(message)) message = plainWords(issue, segments.at(-1) ?? '');
  // An element of a list or record setting (oidc.signingAlgs.0) is set by the setting's flag.
  let flag: string | undefined;
  for (let n = segments.length; n > 0 && flag === undefined; n--) flag = flagForPath(segments.slice(0, n).join('.'));
  if (!path) path = '(root)';
  return `${path}${flag ? ` (${flag})` : ''}: ${message}`;
}

const ARTICLE: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
  array: 'a list',
  record: 'a mapping of keys to values',
  object: 'a mapping',
};

/** A value as a person would name it: `the string "8443"`, `the number 1.5`, `a list`. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** zod's default messages ("Invalid input: expected number, received string") in plain words. */
function plainWords(issue: z.core.$ZodIssue, key: string): string {
  const input = (issue as { input?: unknown }).input;
  const isPort = /port$/i.test(key);
  switch (issue.code) {
    case 'invalid_type': {
      const expected = isPort && (issue.expected === 'number' || issue.expected === 'int') ? 'a port number between 0 and 65535' : (ARTICLE[issue.expected] ?? issue.expected);
      return `must be ${expected}, not ${describeValue(input)}`;
    }
    case 'too_small':
    case 'too_big': {
      if (isPort && issue.origin === 'number') return `must be a port number between ${key === 'listenPort' ? 1 : 0} and 65535, not ${String(input)}`;
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const inclusive = issue.inclusive !== false;
      const what = issue.origin === 'number' ? '' : issue.origin === 'string' ? ' characters long' : ' items';
      const word = issue.code === 'too_small' ? (inclusive ? 'at least' : 'more than') : inclusive ? 'at most' : 'less than';
      return issue.origin === 'number' ? `must be ${word} ${String(bound)}, not ${String(input)}` : `must be ${word} ${String(bound)}${what}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => String(v)).join(', ')}, not ${describeValue(input)}`;
    default:
      return issue.message;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
