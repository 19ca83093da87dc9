/**
 * The latent split (--parallel latents; OpenAI's scheme for very wide SAEs, docs/design.md
 * §3.4): rank r of P holds latents [lo, hi) — their rows of W_enc, b_enc, W_dec and their
 * optimizer state — and every rank sees the whole batch. Per row, each rank selects its own
 * top k; the candidates are gathered and every rank merges them into the same global top k
 * (value, then the lower latent index: the single process's order, so the selection is the
 * single process's); each rank decodes its own kept latents and the partial reconstructions
 * are summed in rank order.
 */
import type { Backend } from '../compute/backend.js';
import type { Comm } from '../compute/comm.js';
import { rankCompare } from '../compute/reference.js';
import type { SparseRows } from '../compute/backend.js';
import { LATENT_PARAMS, type SaeParams } from './common.js';

/** This rank's latents [lo, lo + count) of total. */
export interface LatentShard {
  comm: Comm;
  lo: number;
  count: number;
  total: number;
}

/** Rows [lo, hi) of every latent-indexed tensor (LATENT_PARAMS: rows of W_enc, W_dec, entries of
 *  b_enc, the thresholds); b_dec and W_skip whole. */
export function sliceLatents(p: SaeParams, n: number, lo: number, hi: number): SaeParams {
  const out = {} as SaeParams;
  for (const [name, t] of Object.entries(p) as [keyof SaeParams, Float32Array][]) {
    const rowsOf = LATENT_PARAMS.includes(name) ? t.length / n : 0;
    out[name] = rowsOf ? t.slice(lo * rowsOf, hi * rowsOf) : t.slice();
  }
  return out;
}

/**
 * The global top k of each row of the full pre-activation matrix from this rank's own best
 * kLocal of each row (local: vals and local indices [B, kLocal], best first, padded with index
 * −1): gathered from every rank, merged best first. Returns vals and global indices [B, k] (−1
 * where fewer than k columns compete), the same on every rank.
 */
export function shardTopK(s: LatentShard, local: { vals: Float32Array; idx: Int32Array }, kLocal: number, B: number, k: number,
  out: { vals?: Float32Array; idx?: Int32Array } = {}): { vals: Float32Array; idx: Int32Array } {
  const candVals = new Float32Array(B * k), candIdx = new Int32Array(B * k).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < Math.min(k, kLocal); t++) {
      const j = local.idx[b * kLocal + t]!;
      if (j < 0) break;
      candVals[b * k + t] = local.vals[b * kLocal + t]!;
      candIdx[b * k + t] = s.lo + j;
    }
  }
  const allVals = s.comm.gather(candVals), allIdx = s.comm.gather(candIdx);
  const vals = out.vals ?? new Float32Array(B * k), idx = out.idx ?? new Int32Array(B * k);
  mergeRanked(allVals, allIdx, s.comm.size, B, k, vals, idx);
  return { vals, idx };
}

/**
 * P lists per row, each [B, k] best first and padded with index −1 (rank r's block at r·B·k),
 * merged into the best k per row, by value (NaN as −∞), then the lower index; padding last.
 */
export function mergeRanked(vals: Float32Array, idx: Int32Array, P: number, B: number, k: number, outVals: Float32Array, outIdx: Int32Array): void {
  const head = new Int32Array(P);
  for (let b = 0; b < B; b++) {
    head.fill(0);
    for (let t = 0; t < k; t++) {
      let best = -1, bestAt = -1;
      for (let r = 0; r < P; r++) {
        if (head[r]! >= k) continue;
        const at = (r * B + b) * k + head[r]!;
        if (idx[at]! < 0) continue;
        if (bestAt < 0 || rankCompare(vals[at]!, idx[at]!, vals[bestAt]!, idx[bestAt]!) < 0) { best = r; bestAt = at; }
      }
      if (best < 0) {
        outVals.fill(0, b * k + t, (b + 1) * k);
        outIdx.fill(-1, b * k + t, (b + 1) * k);
        break;
      }
      outVals[b * k + t] = vals[bestAt]!;
      outIdx[b * k + t] = idx[bestAt]!;
      head[best]!++;
    }
  }
}

/** The entries of a code (global latent indices) that are this rank's, in the same layout:
 *  local indices, −1 elsewhere (the sparse kernels skip −1). */
export function localCode(z: SparseRows, s: LatentShard): SparseRows {
  const hi = s.lo + s.count;
  return { ...z, idx: Int32Array.from(z.idx, (i) => (i >= s.lo && i < hi ? i - s.lo : -1)) };
}

/** The reconstruction of a code from every rank's decoder rows: this rank's partial
 *  z·W_dec[lo:hi], summed over the ranks in rank order, plus the bias. */
export function shardDecode(be: Backend, s: LatentShard, zLocal: SparseRows, W_dec: Float32Array, dOut: number, bias: Float32Array | null, out: Float32Array): void {
  be.sparseDecode(zLocal, W_dec, dOut, null, out);
  s.comm.sum(out.subarray(0, zLocal.rows * dOut));
  if (bias) for (let b = 0; b < zLocal.rows; b++) for (let c = 0; c < dOut; c++) out[b * dOut + c]! += bias[c]!;
}
