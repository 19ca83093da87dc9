/**
 * Initialization (docs/design.md §4.1): the common tensors, the architecture's extra tensors,
 * and, for architectures whose code is not k-sparse, an encoder scaled so that the first
 * reconstruction has the scale of the data (as OpenAI's init_from_data_ does with random unit
 * inputs): otherwise every latent above threshold fires at init and the reconstruction is
 * many times the input.
 */
import type { Backend } from '../compute/backend.js';
import type { Rng } from '../util/rng.js';
import { architecture } from './arch/registry.js';
import { LINEAR_INIT_ROW_NORM, type Sae, type SaeParams } from './common.js';
import { encode } from './encode.js';
import { paramEntries } from './folder.js';


/** Geometric median of rows x [rows, d] by Weiszfeld iterations (the b_dec init of Gao et al.). */
export function geometricMedian(x: Float32Array, rows: number, d: number, iters = 100, tol = 1e-7): Float32Array {
  const m = new Float64Array(d);
  for (let b = 0; b < rows; b++) for (let c = 0; c < d; c++) m[c]! += x[b * d + c]! / rows;
  const next = new Float64Array(d);
  for (let it = 0; it < iters; it++) {
    next.fill(0);
    let wsum = 0;
    for (let b = 0; b < rows; b++) {
      let dist = 0;
      for (let c = 0; c < d; c++) dist += (x[b * d + c]! - m[c]!) ** 2;
      const w = 1 / Math.max(Math.sqrt(dist), 1e-12);
      wsum += w;
      for (let c = 0; c < d; c++) next[c]! += w * x[b * d + c]!;
    }
    let shift = 0, norm = 0;
    for (let c = 0; c < d; c++) {
      const v = next[c]! / wsum;
      shift += (v - m[c]!) ** 2;
      norm += v * v;
      m[c] = v;
    }
    if (Math.sqrt(shift) <= tol * Math.max(1, Math.sqrt(norm))) break;
  }
  return Float32Array.from(m);
}

/**
 * The four common tensors: decoder rows random unit vectors; encoder rows the decoder's
 * directions (the transpose, in the y = x·W_encᵀ convention) at norm 1/√3, the norm a linear
 * layer's default init (uniform ±1/√d per entry) gives, as OpenAI's and sparsify's code start
 * (Adam's steps are absolute, so the encoder's scale is its effective learning rate); b_enc = 0;
 * b_dec = the geometric median of a data sample. encoderInit 'random' draws the encoder's
 * directions independently (the init ablation). A transcoder (dOut given: input and output
 * are different spaces) always draws its encoder, and its b_dec is the median of the target
 * sample.
 */
export function initParams(be: Backend, cfg: { d: number; n: number; dOut?: number }, rng: Rng, sample: Float32Array, sampleRows: number,
  encoderInit: 'transpose' | 'random' = 'transpose', rows?: { lo: number; hi: number }): SaeParams {
  const { d, n } = cfg;
  const dOut = cfg.dOut ?? d;
  // with rows (a rank of a latent split): only latents [lo, hi) of the same draws, the others'
  // draws passed over, so memory is the rank's share and the values are the single process's
  const { lo, hi } = rows ?? { lo: 0, hi: n }, count = hi - lo;
  const unitRows = (width: number): Float32Array => {
    rng.skipNormals(lo * width);
    const w = rng.normals(count * width);
    rng.skipNormals((n - hi) * width);
    be.normalizeRows(w, count, width);
    return w;
  };
  const W_dec = unitRows(dOut);
  const W_enc = encoderInit === 'transpose' && cfg.dOut === undefined ? Float32Array.from(W_dec) : unitRows(d);
  for (let e = 0; e < W_enc.length; e++) W_enc[e]! *= LINEAR_INIT_ROW_NORM;
  return { W_enc, b_enc: new Float32Array(count), W_dec, b_dec: geometricMedian(sample, sampleRows, dOut) };
}

/** Adds the architecture's extra tensors (threshold, the VAE's log-variance head) at their initial values. */
export function initExtras(params: SaeParams, cfg: { arch: string; d: number; n: number; dOut?: number; layers?: number; selection?: 'batch' | 'jumprelu' }, options: object): SaeParams {
  const arch = architecture(cfg.arch);
  for (const [name, shape] of paramEntries(cfg)) {
    if (!params[name]) params[name] = new Float32Array(shape.reduce((a, v) => a * v, 1)).fill(arch.extraInit(name, options));
  }
  return params;
}

/**
 * Scales W_enc so that the reconstruction of the sample (less b_dec) has the sample's mean norm
 * (less b_dec; the targets' for a transcoder). Codes that are positively homogeneous in W_enc
 * (ReLU, the VAE's mean) get there in one step; a threshold (JumpReLU) in a few.
 * With `joint` (a code already set to a chosen L0): W_enc, b_enc and the thresholds together, so
 * that every pre-activation scales by one factor and the same latents fire, by the least-squares
 * factor c = Σ⟨y − b, r⟩ / Σ‖r‖² (r the code's part of the reconstruction), not by matching
 * norms: a few latents whose directions are not yet the data's, scaled to the data's norm,
 * reconstruct worse than nothing (FVU 1.66 on synthetic d = 64 with L0 8, after which JumpReLU's
 * thresholds rose until almost nothing fired); the least-squares factor keeps FVU <= 1.
 * Returns the ratio of reconstruction to data norm before scaling.
 */
export function matchReconstructionScale(be: Backend, sae: Sae, x: Float32Array, y: Float32Array, rows: number, joint = false): number {
  const { d } = sae.cfg, dOut = sae.cfg.dOut ?? d, b = sae.params.b_dec;
  const meanNorm = (m: Float32Array): number => {
    let s = 0;
    for (let r = 0; r < rows; r++) {
      let q = 0;
      for (let c = 0; c < dOut; c++) q += (m[r * dOut + c]! - b[c]!) ** 2;
      s += Math.sqrt(q);
    }
    return s / rows;
  };
  const scale = (f: number, all: boolean): void => {
    for (let e = 0; e < sae.params.W_enc.length; e++) sae.params.W_enc[e]! *= f;
    if (all) for (const t of [sae.params.b_enc, sae.params.threshold]) if (t) for (let e = 0; e < t.length; e++) t[e]! *= f;
  };
  const target = meanNorm(y);
  if (joint) {
    const recon = encode(be, sae, x, rows).recon;
    let dot = 0, sq = 0;
    for (let e = 0; e < rows * dOut; e++) {
      const r = recon[e]! - b[e % dOut]!;
      dot += (y[e]! - b[e % dOut]!) * r;
      sq += r * r;
    }
    if (sq > 0 && dot > 0) scale(dot / sq, true);
    return target > 0 ? meanNorm(recon) / target : NaN;
  }
  let first = NaN;
  for (let it = 0; it < 4; it++) {
    const got = meanNorm(encode(be, sae, x, rows).recon);
    if (it === 0) first = got / target;
    if (!(got > 0) || !(target > 0) || Math.abs(got / target - 1) < 0.02) break;
    scale(target / got, false);
  }
  return first;
}

