/**
 * The timing loop the bench/micro-*.ts scripts share: every variant `n` times per round, rounds alternating
 * between variants (so a slow moment hits all of them), medians in nanoseconds per call.
 */
export function timeVariants(variants: Record<string, () => number>, n: number, rounds = 7): Record<string, number> {
  const samples: Record<string, number[]> = {};
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(variants)) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink += fn();
      (samples[name] ??= []).push(Number(process.hrtime.bigint() - t0) / n);
    }
  }
  if (sink === 0) console.log(''); // keeps the calls from being optimised away
  return Object.fromEntries(Object.entries(samples).map(([name, xs]) => [name, median(xs)]));
}

export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** One line per variant: ns/op, and with `relative` the speed-up over the first variant. */
export function printNsPerOp(results: Record<string, number>, relative = false): void {
  const base = Object.values(results)[0]!;
  for (const [name, ns] of Object.entries(results)) console.log(`${ns.toFixed(0).padStart(6)} ns/op  ${relative ? `${(base / ns).toFixed(2)}×  ` : ''}${name}`);
}
