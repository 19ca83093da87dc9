/** Timing helpers for the benchmarks: best-of-N wall time, after one warm-up call unless told not to. */
export function bestOf(reps: number, fn: () => void, warmup = true): number {
  if (warmup) fn();
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

export const fmt = (x: number, digits = 3): string => x.toPrecision(digits);
