/** "Did you mean …?" for a mistyped flag or command: the closest known name by edit distance. Pure. */

/** ` (did you mean --x?)` for the closest known flag within a small edit distance, else ''. */
export function suggest(name: string, known: readonly string[]): string {
  let best: { flag: string; distance: number } | undefined;
  for (const flag of known) {
    const distance = flag.startsWith(name) && name.length >= 4 ? 1 : editDistance(name, flag);
    if (best === undefined || distance < best.distance) best = { flag, distance };
  }
  if (best === undefined || best.distance > Math.max(2, Math.floor(name.length / 3))) return '';
  return `; did you mean --${best.flag}?`;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}
