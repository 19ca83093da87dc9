/**
 * Geometry of dictionaries (docs/design.md §4.9): blocked top-k searches by dot product or
 * cosine between two sets of rows, never materializing more than a block×block Gram matrix.
 * Decoder rows live in the SAE's output space: width dOut for a transcoder, d otherwise;
 * `decoderWidth` is the one place that says so. Used by MMCS, scale matching, the viewer's
 * neighbours and logit effects, and the viewer's compare page.
 */
import type { Backend } from '../compute/backend.js';
import type { Sae } from './common.js';

/** The width of the SAE's decoder rows (its output space). */
export const decoderWidth = (sae: Sae): number => sae.cfg.dOut ?? sae.cfg.d;

/** A unit-norm copy of the SAE's decoder rows [n, decoderWidth]. */
export function unitDecoder(be: Backend, sae: Sae): Float32Array {
  const rows = Float32Array.from(sae.params.W_dec);
  be.normalizeRows(rows, sae.cfg.n, decoderWidth(sae));
  return rows;
}

export interface TopMatches {
  /** [na, k] best values per row of a, best first (−Infinity where fewer than k exist) */
  vals: Float32Array;
  /** [na, k] the matching rows of b (−1 where none) */
  idx: Int32Array;
}

export interface SearchOptions {
  /** a and b are the same rows: never match a row with itself */
  same?: boolean;
  /** the k most negative instead (values returned negated, i.e. the dot products' negatives) */
  negate?: boolean;
  /** rows of a per block (the Gram block is block × block floats) */
  block?: number;
  /** called after each block of a's rows with how many are done */
  onProgress?: (done: number) => void;
}

/** For each row of a [na, w], the k rows of b [nb, w] with the largest dot product. */
export function topDot(be: Backend, a: Float32Array, na: number, b: Float32Array, nb: number, w: number, k: number, o: SearchOptions = {}): TopMatches {
  const block = o.block ?? 2048;
  const vals = new Float32Array(na * k).fill(-Infinity), idx = new Int32Array(na * k).fill(-1);
  const g = new Float32Array(Math.min(block, na) * Math.min(block, nb));
  for (let i0 = 0; i0 < na; i0 += block) {
    const bi = Math.min(block, na - i0);
    for (let j0 = 0; j0 < nb; j0 += block) {
      const bj = Math.min(block, nb - j0), kk = Math.min(k, bj);
      be.gemm({ a: a.subarray(i0 * w, (i0 + bi) * w), b: b.subarray(j0 * w, (j0 + bj) * w), c: g.subarray(0, bi * bj), m: bi, n: bj, k: w, transB: true, alpha: o.negate ? -1 : 1 });
      if (o.same) for (let i = Math.max(i0, j0); i < Math.min(i0 + bi, j0 + bj); i++) g[(i - i0) * bj + (i - j0)] = -Infinity;
      const top = be.topk(g.subarray(0, bi * bj), bi, bj, kk);
      for (let r = 0; r < bi; r++) {
        // merge this block's best into the row's running best (most blocks cannot improve it)
        const at = (i0 + r) * k;
        if (!(top.vals[r * kk]! > vals[at + k - 1]!)) continue;
        const cand: [number, number][] = [];
        for (let t = 0; t < k; t++) cand.push([vals[at + t]!, idx[at + t]!]);
        for (let t = 0; t < kk; t++) if (top.idx[r * kk + t]! >= 0) cand.push([top.vals[r * kk + t]!, top.idx[r * kk + t]! + j0]);
        cand.sort((u, v) => v[0] - u[0] || u[1] - v[1]);
        for (let t = 0; t < k; t++) { vals[at + t] = cand[t]![0]; idx[at + t] = cand[t]![1]; }
      }
    }
    o.onProgress?.(i0 + bi);
  }
  return { vals, idx };
}

/** The same by cosine: both sets normalized first (copies; the inputs are not changed). */
export function topCosine(be: Backend, a: Float32Array, na: number, b: Float32Array, nb: number, w: number, k: number, o: SearchOptions = {}): TopMatches {
  const an = Float32Array.from(a.subarray(0, na * w)), bn = o.same && a === b ? an : Float32Array.from(b.subarray(0, nb * w));
  be.normalizeRows(an, na, w);
  if (bn !== an) be.normalizeRows(bn, nb, w);
  return topDot(be, an, na, bn, nb, w, k, o);
}

/** The best decoder-cosine matches of latent `id` of SAE a among SAE b's latents. */
export function decoderMatches(be: Backend, a: Sae, id: number, b: Sae, k = 3): { id: number; cos: number }[] {
  const w = decoderWidth(a);
  if (decoderWidth(b) !== w) throw new Error(`the two SAEs decode into different widths (${w} and ${decoderWidth(b)}); their latents cannot be compared`);
  const m = topCosine(be, a.params.W_dec.subarray(id * w, (id + 1) * w), 1, b.params.W_dec, b.cfg.n, w, Math.min(k, b.cfg.n));
  return Array.from(m.idx, (j, t) => ({ id: j, cos: m.vals[t]! })).filter((x) => x.id >= 0);
}
