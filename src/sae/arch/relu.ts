/**
 * ReLU SAE with the decoder-norm-weighted L1 penalty (Anthropic, "Circuits Updates", April 2024):
 *
 *   pre = (x − b_dec)·W_encᵀ + b_enc     z = ReLU(pre)     x̂ = z·W_dec + b_dec
 *   L   = FVU + λ·(1/B)·Σ_b Σ_i z_bi·||W_dec,i||₂          (no unit-norm constraint on W_dec)
 * docs/design.md §4.5.
 */
import { z } from 'zod';
import type { Backend, SparseRows } from '../../compute/backend.js';
import type { SaeParams } from '../common.js';
import { encodeThreshold, encoderBackward, thresholdForward, widths, zerosLike } from '../primitives.js';
import { warmedUp } from './jumprelu.js';
import type { Architecture } from './types.js';

export interface ReluResult {
  loss: number;
  fvu: number;
  l0: number;
  /** the penalty term before λ: mean Σ_i z_i·||W_dec,i|| */
  l1: number;
  z: SparseRows;
}

export function reluForwardBackward(be: Backend, p: SaeParams, x: Float32Array, B: number, lambda: number, grads: SaeParams | null,
  target?: Float32Array): ReluResult {
  const { n, dOut: d } = widths(p);
  const { xc, z, grad, fvu } = thresholdForward(be, p, x, B, new Float32Array(n), target);
  const norms = be.rowNorms(p.W_dec, n, d);
  const nnz = z.rowPtr[B]!;
  const sumZ = new Float64Array(n);
  let l1 = 0;
  for (let e = 0; e < nnz; e++) { sumZ[z.idx[e]!]! += z.vals[e]!; l1 += z.vals[e]! * norms[z.idx[e]!]!; }
  l1 /= Math.max(B, 1);
  const result = { loss: fvu + lambda * l1, fvu, l0: nnz / Math.max(B, 1), l1, z };
  if (!grads) return result;

  // decoder: reconstruction, plus the penalty's λ/B·Σ_b z_bi·W_i/||W_i||
  be.sparseAccumulate(z, grad, d, grads.W_dec, true);
  for (let i = 0; i < n; i++) {
    if (!(norms[i]! > 0) || sumZ[i] === 0) continue;
    const f = (lambda / B) * sumZ[i]! / norms[i]!;
    for (let c = 0; c < d; c++) grads.W_dec[i * d + c]! += f * p.W_dec[i * d + c]!;
  }
  // latents: ∂L/∂z_bi = dx̂_b·W_i + λ/B·||W_i|| where z > 0 (ReLU)
  const dPre = be.sparseDot(z, grad, p.W_dec, d);
  for (let e = 0; e < nnz; e++) dPre[e]! += (lambda / B) * norms[z.idx[e]!]!;
  encoderBackward(be, p, z, dPre, xc, grad, grads, target !== undefined);
  return result;
}

const Options = z.object({
  lambda: z.number().min(0).default(0.01).describe('sparsity coefficient: the L0 penalty (jumprelu, default 0.003) or the decoder-norm-weighted L1 (relu, default 0.01)'),
  lambdaWarmup: z.number().min(0).max(1).default(0.05).describe('fraction of the run over which lambda rises linearly from 0 (jumprelu, relu)'),
});
type Options = z.infer<typeof Options>;

export const relu: Architecture<Options> = {
  name: 'relu',
  summary: 'ReLU, L1 weighted by decoder norms; knob --lambda; no unit-norm decoder constraint',
  options: Options,
  extraShapes: () => ({}),
  extraInit: () => 0,
  unitNormDecoder: false,
  initScale: 'reconstruction',
  objective({ be, options: o, params }) {
    const grads = zerosLike(params);
    return {
      params, grads, unitRows: {},
      step(x, rows, _dead, progress, target) {
        const r = reluForwardBackward(be, params, x, rows, o.lambda * warmedUp(progress, o.lambdaWarmup), grads, target);
        return { loss: r.loss, fvu: r.fvu, l0: r.l0, auxLoss: 0, acts: r.z.vals, indices: r.z.idx, extra: { l1: r.l1 } };
      },
      afterStep() {},
      state: () => ({ json: {}, tensors: {} }),
      restore() {},
      saved: () => params,
    };
  },
  encode: (be, sae, x, B) => encodeThreshold(be, sae.params, x, B, new Float32Array(sae.cfg.n), sae.cfg.dOut !== undefined),
  saeFields: () => ({ k: 0 }),
  saelens: { architecture: 'standard', imports: true },
};
