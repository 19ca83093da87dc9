/**
 * Evaluation of a trained SAE on a stream of activations (docs/design.md §4.8):
 *   FVU = Σ||x − x̂||² / Σ||x − x̄||² (x̄ over the whole evaluation set),
 *   OpenAI normalized MSE = mean_b ||x_b − x̂_b||² / ||x_b||²,
 *   L0 = mean nonzero latents per token, the fraction of latents that never fired in the evaluated tokens,
 *   firing density per latent, and MMCS against ground truth when the source knows it.
 */
import type { Backend } from '../compute/backend.js';
import type { ActivationSource, GroundTruth } from '../data/source.js';
import type { Sae } from '../sae/common.js';
import { encode } from '../sae/encode.js';
import { decoderWidth, topCosine } from '../sae/geometry.js';

export interface EvalResult {
  tokens: number;
  fvu: number;
  /** a cross-layer transcoder: each layer's FVU (its block of the targets) */
  fvu_layers?: number[];
  normalized_mse: number;
  l0: number;
  /** latents that never fired in the evaluated tokens (not the trainer's "dead": see docs/design.md §4.8) */
  never_fired_fraction: number;
  /** firing frequency of each latent over the evaluated tokens */
  density: Float64Array;
  /** mean over true features of the max cosine to any decoder row (synthetic data only) */
  mmcs?: number;
  /** fraction of true features matched by a decoder row with cosine > 0.9 */
  recovered_09?: number;
  /** the (k+1)-th largest pre-activation per token (is it still substantially positive?) */
  next_preact?: { mean: number; positive_fraction: number; p10: number; p50: number; p90: number };
}

/** Evaluates with the SAE's own k, or at another k (progressive codes: a Multi-TopK SAE at k'). */
export function evaluateSae(be: Backend, sae: Sae, source: ActivationSource, tokens: number, batch = 4096, kEval?: number): EvalResult {
  const { d, n } = sae.cfg;
  if (kEval !== undefined && (!Number.isInteger(kEval) || kEval < 1)) throw new Error(`evaluation k must be a positive integer, got ${kEval}`);
  if (source.d !== d) throw new Error(`data ${source.description} has d=${source.d} but the SAE expects d=${d}`);
  // a transcoder is scored on the data's targets
  const dOut = sae.cfg.dOut, transcoder = dOut !== undefined, dY = decoderWidth(sae);
  if (transcoder && source.dOut !== dOut) {
    throw new Error(`the SAE is a transcoder to d_out=${dOut}, but data ${source.description} has ${source.dOut ? `targets of width ${source.dOut}` : 'no targets'}`);
  }
  const B = Math.max(1, Math.min(batch, tokens));
  const next: number[] = [];
  const x = new Float32Array(B * d);
  const y = transcoder ? new Float32Array(B * dY) : x;
  const sumX = new Float64Array(dY);
  let sumSq = 0, sse = 0, nmse = 0, nnz = 0, seen = 0;
  const fires = new Float64Array(n);
  // a cross-layer transcoder's layers: Σ||y − ŷ||² and Σ||y||² of each block
  const blocks = sae.cfg.layers ?? 1, bw = dY / blocks;
  const sseB = new Float64Array(blocks), sumSqB = new Float64Array(blocks);
  while (seen < tokens) {
    const rows = source.read(x, Math.min(B, tokens - seen), transcoder ? y : undefined);
    if (rows === 0) break;
    // one pass gives the code, the reconstruction and (k-sparse codes) the (k+1)-th pre-activation
    const { z, recon, next: nextVals } = encode(be, sae, x, rows, { k: kEval, next: true });
    if (nextVals) for (let b = 0; b < rows; b++) next.push(nextVals[b]!);
    for (let b = 0; b < rows; b++) {
      let rowSq = 0, rowErr = 0;
      for (let c = 0; c < dY; c++) {
        const v = y[b * dY + c]!;
        sumX[c]! += v;
        rowSq += v * v;
        const e = v - recon[b * dY + c]!;
        rowErr += e * e;
        if (blocks > 1) {
          sseB[Math.floor(c / bw)]! += e * e;
          sumSqB[Math.floor(c / bw)]! += v * v;
        }
      }
      sumSq += rowSq;
      sse += rowErr;
      nmse += rowSq > 0 ? rowErr / rowSq : 0;
      for (let e = z.rowPtr[b]!; e < z.rowPtr[b + 1]!; e++) {
        if (z.idx[e]! >= 0 && z.vals[e] !== 0) {
          fires[z.idx[e]!]!++;
          nnz++;
        }
      }
    }
    seen += rows;
  }
  if (seen === 0) throw new Error(`data ${source.description}: no rows to evaluate`);
  let meanSq = 0;
  for (let c = 0; c < dY; c++) meanSq += (sumX[c]! / seen) ** 2;
  const totalVar = sumSq - seen * meanSq;
  const density = fires.map((f) => f / seen);
  const result: EvalResult = {
    tokens: seen,
    fvu: sse / totalVar,
    normalized_mse: nmse / seen,
    l0: nnz / seen,
    never_fired_fraction: density.reduce((a, f) => a + (f === 0 ? 1 : 0), 0) / n,
    density,
  };
  if (blocks > 1) {
    result.fvu_layers = Array.from({ length: blocks }, (_, l) => {
      let m2 = 0;
      for (let c = l * bw; c < (l + 1) * bw; c++) m2 += (sumX[c]! / seen) ** 2;
      return sseB[l]! / (sumSqB[l]! - seen * m2);
    });
  }
  if (next.length) {
    next.sort((a, b) => a - b);
    const q = (f: number): number => next[Math.min(next.length - 1, Math.floor(f * next.length))]!;
    result.next_preact = {
      mean: next.reduce((a, v) => a + v, 0) / next.length,
      positive_fraction: next.filter((v) => v > 0).length / next.length,
      p10: q(0.1), p50: q(0.5), p90: q(0.9),
    };
  }
  if (source.truth) {
    const { mmcs, recovered_09 } = groundTruthRecovery(be, source.truth, sae);
    Object.assign(result, { mmcs, recovered_09 });
  }
  return result;
}

/** For each true feature, the max cosine to any decoder row; MMCS is their mean. A transcoder's
 *  decoder is compared with the features' output directions. */
export function groundTruthRecovery(be: Backend, truth: GroundTruth, sae: Sae): { mmcs: number; recovered_09: number; maxCos: Float32Array } {
  const transcoder = sae.cfg.dOut !== undefined;
  const features = transcoder ? truth.targets : truth.features;
  if (!features) throw new Error('ground truth: the data has no output directions to compare a transcoder with');
  const maxCos = topCosine(be, features, truth.m, sae.params.W_dec, sae.cfg.n, decoderWidth(sae), 1).vals;
  let s = 0, hit = 0;
  for (let i = 0; i < truth.m; i++) {
    s += maxCos[i]!;
    if (maxCos[i]! > 0.9) hit++;
  }
  return { mmcs: s / truth.m, recovered_09: hit / truth.m, maxCos };
}

/** Histogram of log10 firing densities (dead latents counted apart). */
export function densityHistogram(density: Float64Array, lo = -8, hi = 0, bins = 32): { edges: number[]; counts: number[]; dead: number } {
  const counts = new Array(bins).fill(0);
  let dead = 0;
  for (const f of density) {
    if (f === 0) {
      dead++;
      continue;
    }
    const bin = Math.min(bins - 1, Math.max(0, Math.floor(((Math.log10(f) - lo) / (hi - lo)) * bins)));
    counts[bin]++;
  }
  return { edges: Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins), counts, dead };
}
