/**
 * What every SAE architecture shares: the parameter set, the configuration, and the init of
 * the four common tensors (docs/design.md §4.1). The on-disk form is folder.ts.
 *
 * Layout (row i belongs to latent i): W_enc [n, d], b_enc [n], W_dec [n, d], b_dec [d]; the
 * threshold architectures (JumpReLU, and BatchTopK/Matryoshka at inference) add threshold [n],
 * the VAE adds its log-variance head W_logvar [n, d], b_logvar [n].
 */
import type { Backend } from '../compute/backend.js';
import type { Rng } from '../util/rng.js';

export type SaeParams = {
  W_enc: Float32Array;
  b_enc: Float32Array;
  W_dec: Float32Array;
  b_dec: Float32Array;
  threshold?: Float32Array;
  W_logvar?: Float32Array;
  b_logvar?: Float32Array;
};
export type ParamName = keyof SaeParams;
/** The four tensors every architecture has. */
export const PARAM_NAMES = ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const;

/** An SAE's configuration (cfg.json; schema and on-disk names in folder.ts). */
export interface SaeConfig {
  format: 'saekit-sae';
  /** a name in src/sae/arch/registry.ts */
  arch: string;
  /** input width d_in */
  d: number;
  /** number of latents */
  n: number;
  /** active latents per token (TopK; the mean for BatchTopK/Matryoshka; 0 where not fixed) */
  k: number;
  /** Matryoshka: nested dictionary sizes, the last = n */
  prefixes?: number[];
  /** transcoder: output width (W_dec [n, dOut], b_dec [dOut]); the input is not centred by b_dec */
  dOut?: number;
  /** trained with the Multi-TopK loss L(k) + L(4k)/8 */
  multiTopK: boolean;
  /** the canonical data spec of the training activations */
  data: string;
}

export interface Sae {
  cfg: SaeConfig;
  params: SaeParams;
}

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
 * Init of Gao et al.: decoder rows random unit vectors, encoder = decoder (transpose, in the
 * y = x·W_encᵀ convention), b_enc = 0, b_dec = geometric median of a data sample.
 * encoderInit 'random' draws the encoder independently instead (for the init ablation). A
 * transcoder (dOut given: input and output are different spaces) always draws its encoder,
 * and its b_dec is the median of the target sample.
 */
export function initParams(be: Backend, cfg: { d: number; n: number; dOut?: number }, rng: Rng, sample: Float32Array, sampleRows: number,
  encoderInit: 'transpose' | 'random' = 'transpose'): SaeParams {
  const { d, n } = cfg;
  const dOut = cfg.dOut ?? d;
  const W_dec = rng.normals(n * dOut);
  be.normalizeRows(W_dec, n, dOut);
  let W_enc: Float32Array;
  if (encoderInit === 'transpose' && cfg.dOut === undefined) {
    W_enc = Float32Array.from(W_dec);
  } else {
    W_enc = rng.normals(n * d);
    be.normalizeRows(W_enc, n, d);
  }
  return { W_enc, b_enc: new Float32Array(n), W_dec, b_dec: geometricMedian(sample, sampleRows, dOut) };
}
