/**
 * Gaussian VAE, the dense-code baseline (docs/design.md §4.6):
 *
 *   μ = (x − b_dec)·W_encᵀ + b_enc      log σ² = (x − b_dec)·W_logvarᵀ + b_logvar
 *   z = μ + σ ⊙ ε, ε ~ N(0, I)           x̂ = z·W_dec + b_dec
 *   loss = (1/B)·Σ_b [ ||x_b − x̂_b||² / (2σ_x²) + ½·Σ_i (μ_i² + σ_i² − 1 − log σ_i²) ]   (−ELBO + const)
 *
 * σ_x² (the observation noise) is `noise` times the batch's variance per dimension, so the
 * reconstruction term is FVU·d/(2·noise) per token. Inference uses z = μ.
 */
import { z } from 'zod';
import type { Backend } from '../../compute/backend.js';
import { Rng } from '../../util/rng.js';
import type { SaeParams } from '../common.js';
import { denseRows, preActivations, sumRows, totalVariance, widths, zerosLike } from '../primitives.js';
import type { Architecture } from './types.js';

export interface VaeResult {
  loss: number;
  /** FVU of the sampled reconstruction */
  fvu: number;
  /** mean KL(q(z|x) ‖ N(0, I)) per token, nats */
  kl: number;
  /** mean reconstruction term per token */
  recon: number;
}

/** Analytic KL(N(μ, σ²) ‖ N(0, 1)) summed over one row's latents. */
export function gaussianKl(mu: ArrayLike<number>, logvar: ArrayLike<number>, start: number, n: number): number {
  let kl = 0;
  for (let i = start; i < start + n; i++) kl += 0.5 * (mu[i]! ** 2 + Math.exp(logvar[i]!) - 1 - logvar[i]!);
  return kl;
}

/** One stochastic −ELBO evaluation (and with grads its reparameterized gradient); eps [B, n]
 *  is drawn from rng unless given; with a target [B, dOut] it is a transcoder (the input is
 *  not centred by b_dec and the reconstruction is compared with the target). */
export function vaeForwardBackward(be: Backend, p: SaeParams, x: Float32Array, B: number, noise: number, rng: Rng,
  grads: SaeParams | null, eps: Float32Array = rng.normals(B * p.b_enc.length), target?: Float32Array): VaeResult {
  const { n, d, dOut } = widths(p), tc = target !== undefined;
  const y = target ?? x;
  const { xc, pre: mu } = preActivations(be, p, x, B, tc);
  const { pre: lv } = preActivations(be, p, x, B, tc, { W: p.W_logvar!, bias: p.b_logvar! });
  const sigma = lv.map((v) => Math.exp(v / 2));
  const z = mu.map((m, e) => m + sigma[e]! * eps[e]!);
  const recon = new Float32Array(B * dOut);
  for (let b = 0; b < B; b++) recon.set(p.b_dec, b * dOut);
  be.gemm({ a: z, b: p.W_dec, c: recon, m: B, n: dOut, k: n, beta: 1 });
  const denom = Math.max(totalVariance(y, B, dOut), 1e-30);
  const sx2 = noise * denom / (B * dOut);
  let sse = 0, kl = 0;
  const dx = new Float32Array(B * dOut);
  for (let e = 0; e < B * dOut; e++) {
    const diff = recon[e]! - y[e]!;
    sse += diff * diff;
    dx[e] = diff / (sx2 * B);
  }
  for (let b = 0; b < B; b++) kl += gaussianKl(mu, lv, b * n, n);
  const result = { loss: (sse / (2 * sx2) + kl) / B, fvu: sse / denom, kl: kl / B, recon: sse / (2 * sx2 * B) };
  if (!grads) return result;

  // decoder
  be.gemm({ a: z, b: dx, c: grads.W_dec, m: n, n: dOut, k: B, transA: true });
  sumRows(dx, B, dOut, grads.b_dec);
  // dz = dx̂·W_decᵀ; dμ = dz + μ/B; d log σ² = dz·ε·σ/2 + (σ² − 1)/(2B)
  const dz = new Float32Array(B * n);
  be.gemm({ a: dx, b: p.W_dec, c: dz, m: B, n, k: dOut, transB: true });
  const dmu = dz.map((g, e) => g + mu[e]! / B);
  const dlv = dz.map((g, e) => (g * eps[e]! * sigma[e]!) / 2 + (sigma[e]! ** 2 - 1) / (2 * B));
  for (const [dh, W, gW, gb] of [[dmu, p.W_enc, grads.W_enc, grads.b_enc], [dlv, p.W_logvar!, grads.W_logvar!, grads.b_logvar!]] as const) {
    be.gemm({ a: dh, b: xc, c: gW, m: n, n: d, k: B, transA: true });
    sumRows(dh, B, n, gb);
    // the encoder input x − b_dec (not a transcoder's): db_dec −= Σ_i gb_i·W_i
    if (!tc) be.gemm({ a: gb, b: W, c: grads.b_dec, m: 1, n: d, k: n, alpha: -1, beta: 1 });
  }
  return result;
}

const Options = z.object({
  vaeNoise: z.number().positive().default(0.1).describe('VAE: observation noise variance as a fraction of the data variance per dimension'),
});
type Options = z.infer<typeof Options>;

export const vae: Architecture<Options> = {
  name: 'vae',
  summary: 'Gaussian, z = μ + σε (μ at inference); dense, no sparsity knob; --vae-noise',
  options: Options,
  extraShapes: (d, n) => ({ W_logvar: [n, d], b_logvar: [n] }),
  // σ starts at e^-2
  extraInit: (name) => (name === 'b_logvar' ? -4 : 0),
  unitNormDecoder: false,
  initScale: 'reconstruction',
  objective({ be, n, seed, options: o, params, bf16 }) {
    if (bf16) throw new Error('--precision: the vae architecture runs in f32 only (its two encoder heads have no bf16 path); use --precision f32');
    const grads = zerosLike(params);
    let rng = new Rng(seed + 7919);
    // the code is dense: every latent "fires" on every row
    const allIdx = Int32Array.from({ length: n }, (_, i) => i), allOnes = new Float32Array(n).fill(1);
    return {
      params, grads, unitRows: {},
      step(x, rows, _dead, _progress, target) {
        const r = vaeForwardBackward(be, params, x, rows, o.vaeNoise, rng, grads, undefined, target);
        return { loss: r.loss, fvu: r.fvu, l0: n, auxLoss: 0, acts: allOnes, indices: allIdx, extra: { kl: r.kl, recon_term: r.recon } };
      },
      afterStep() {},
      state: () => ({ json: { rng: Array.from(rng.state) }, tensors: {} }),
      restore(json) {
        if (Array.isArray(json.rng)) rng = new Rng(Uint32Array.from(json.rng as number[]));
      },
      saved: () => params,
    };
  },
  encode(be, sae, x, B) {
    const p = sae.params, { n, dOut } = widths(p);
    const { pre } = preActivations(be, p, x, B, sae.cfg.dOut !== undefined);
    const z = denseRows(pre, B, n);
    return { z, recon: be.sparseDecode(z, p.W_dec, dOut, p.b_dec) };
  },
  saeFields: () => ({ k: 0 }),
};
