/**
 * Opposing directions (docs/design.md §4.9): for each latent, the most negative cosine between its
 * unit decoder row and any other row, by the blocked kernel (symmetric half, never the n×n
 * matrix). Counts below thresholds (seed anchor: 256k latents, k=256 on GPT-4 gave 286 below
 * −0.9 and 1314 below −0.7), each latent's partner, and the unique pairs.
 */
import type { Backend } from '../compute/backend.js';

export interface OpposingPair {
  i: number;
  j: number;
  cos: number;
}

export interface OpposingResult {
  /** [n] each row's most negative cosine to another row */
  minCos: Float32Array;
  /** [n] the row attaining it */
  partner: Int32Array;
  /** latents whose most negative partner is below each threshold */
  counts: { threshold: number; latents: number }[];
  /** unique unordered pairs {i, partner[i]} below the loosest threshold, most negative first */
  pairs: OpposingPair[];
}

/** rows: [n, d]; normalized in place (a decoder with unit rows is unchanged). */
export function opposingDirections(be: Backend, rows: Float32Array, n: number, d: number, thresholds: number[], block = 4096): OpposingResult {
  be.normalizeRows(rows, n, d);
  const { vals: minCos, idx: partner } = be.minCosine(rows, n, d, block);
  const counts = thresholds.map((t) => ({ threshold: t, latents: minCos.reduce((a, v) => a + (v < t ? 1 : 0), 0) }));
  const loosest = Math.max(...thresholds);
  const seen = new Set<string>();
  const pairs: OpposingPair[] = [];
  for (let i = 0; i < n; i++) {
    const j = partner[i]!;
    if (j < 0 || !(minCos[i]! < loosest)) continue;
    const key = i < j ? `${i},${j}` : `${j},${i}`;
    if (seen.has(key)) continue;
    seen.add(key);
    pairs.push({ i: Math.min(i, j), j: Math.max(i, j), cos: minCos[i]! });
  }
  pairs.sort((a, b) => a.cos - b.cos || a.i - b.i);
  return { minCos, partner, counts, pairs };
}
