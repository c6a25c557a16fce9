/**
 * Plain-data helpers shared by `kubegate sudo` and `kubegate elevations`: durations as people type them,
 * times relative to now, terminal-safe text and JSON, and shell-quoted hints. No I/O.
 */
import type { Elevation } from '../elevation/types.js';

const DURATION = /^(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9})s)?$/;

/**
 * Seconds from `90s`, `15m`, `1h`, `1h30m`, `1h0m30s` (hours, minutes, seconds, in that order, each at
 * most once, whole numbers). Returns undefined for anything else, including zero.
 */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m || text === '') return undefined;
  const seconds = Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  return seconds > 0 && Number.isSafeInteger(seconds) ? seconds : undefined;
}

/** `5400` → `1h30m`, `90` → `1m30s`, `0` → `0s`. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const parts = [h ? `${h}h` : '', m ? `${m}m` : '', sec ? `${sec}s` : ''].join('');
  return parts || '0s';
}

/** `in 14m` / `3m ago` for an ISO time, or '' when it does not parse. */
export function relative(iso: string | undefined, nowMs: number): string {
  const at = iso === undefined ? NaN : Date.parse(iso);
  if (Number.isNaN(at)) return '';
  const diff = Math.round((at - nowMs) / 1000);
  return diff >= 0 ? `in ${formatDuration(diff)}` : `${formatDuration(-diff)} ago`;
}

/** An ISO time without milliseconds, made safe for a terminal; `-` when absent. */
export function time(iso: string | undefined): string {
  if (iso === undefined) return '-';
  const at = Date.parse(iso);
  return Number.isNaN(at) ? safe(iso) : new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `2025-06-01T10:15:00Z (in 14m)`. */
export function timeAndRelative(iso: string | undefined, nowMs: number): string {
  const rel = relative(iso, nowMs);
  return rel ? `${time(iso)} (${rel})` : time(iso);
}

// C0 controls except tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), bidi overrides.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from a server made safe for a terminal: control characters (escape sequences, carriage returns,
 * bidi overrides) become `?`, so a reason written by one person cannot rewrite an approver's screen.
 */
export function safe(text: string): string {
  return text.replace(UNSAFE, '?');
}

/** One line of table or summary text: `safe`, and newlines and tabs as spaces. */
export function safeLine(text: string): string {
  return safe(text).replace(/[\t\n]/g, ' ');
}

/** JSON for stdout with every character a terminal could act on written as a `\uXXXX` escape (still valid JSON). */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

/** A word for a copy-pasteable shell command: as is when plain, else single-quoted. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** ` --kubeconfig F --context C` as given on this command line, to repeat in a suggested command. */
export function selectionFlags(selection: { kubeconfig?: string | undefined; context?: string | undefined }): string {
  return [
    selection.kubeconfig !== undefined ? ` --kubeconfig ${shellWord(selection.kubeconfig)}` : '',
    selection.context !== undefined ? ` --context ${shellWord(selection.context)}` : '',
  ].join('');
}

/** `alice holds oncall-admin, db-admin until 2025-06-01T10:15:00Z (in 15m)`. */
export function holdsUntil(e: Elevation, nowMs: number): string {
  return `${safeLine(e.requester)} holds ${safeLine(e.groups.join(', '))} until ${timeAndRelative(e.expiresAt, nowMs)}`;
}
