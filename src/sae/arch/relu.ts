/**
 * ReLU SAE with the decoder-norm-weighted L1 penalty (Anthropic, "Circuits Updates", April 2024):
 *
 *   pre = x·W_encᵀ + b_enc (or (x − b_dec)·W_encᵀ + b_enc with centerInput)
 *   z = ReLU(pre)     x̂ = z·W_dec + b_dec
 *   L   = FVU + λ·(1/B)·Σ_b Σ_i z_bi·||W_dec,i||₂ / s       (no unit-norm constraint on W_dec)
 * where s = √(Σ_b ||y_b − ȳ||² / B) is the batch's RMS distance from its mean (y the target: x,
 * or a transcoder's output), so that λ is in units independent of the data's scale, as the FVU
 * is: scaling the data by c scales the code by c and leaves the loss unchanged. docs/design.md §4.5.
 */
import { z } from 'zod';
import type { Backend, SparseRows } from '../../compute/backend.js';
import type { SaeParams } from '../common.js';
import { type Bf16Encoder, encodeThreshold, encoderBackward, inferenceEncoder, thresholdForward, widths, zerosLike } from '../primitives.js';
import { centredForm, LambdaSchedule, penaltyInit, penaltyOptions } from './penalty.js';
import type { Architecture } from './types.js';

export interface ReluResult {
  loss: number;
  fvu: number;
  l0: number;
  /** the penalty term before λ: mean Σ_i z_i·||W_dec,i||, divided by the batch's RMS scale s */
  l1: number;
  z: SparseRows;
}

/** `centre`: encode x − b_dec (true) or x (false; a transcoder never centres). */
export function reluForwardBackward(be: Backend, p: SaeParams, x: Float32Array, B: number, lambda: number, grads: SaeParams | null,
  target?: Float32Array, centre = true, bf16: Bf16Encoder | null = null): ReluResult {
  const { n, dOut: d } = widths(p);
  const uncentred = target !== undefined || !centre;
  const { xc, z, grad, fvu, denom } = thresholdForward(be, p, x, B, new Float32Array(n), target, uncentred, bf16);
  const norms = be.rowNorms(p.W_dec, n, d);
  const nnz = z.rowPtr[B]!;
  const sumZ = new Float64Array(n);
  // the data's scale s (a constant of the batch, so it only rescales λ's gradient terms)
  const invScale = 1 / Math.sqrt(denom / Math.max(B, 1));
  let l1 = 0;
  for (let e = 0; e < nnz; e++) { sumZ[z.idx[e]!]! += z.vals[e]!; l1 += z.vals[e]! * norms[z.idx[e]!]!; }
  l1 *= invScale / Math.max(B, 1);
  const result = { loss: fvu + lambda * l1, fvu, l0: nnz / Math.max(B, 1), l1, z };
  if (!grads) return result;
  const lam = (lambda * invScale) / B;

  // decoder: reconstruction, plus the penalty's λ/(B·s)·Σ_b z_bi·W_i/||W_i||
  be.sparseAccumulate(z, grad, d, grads.W_dec, true);
  for (let i = 0; i < n; i++) {
    if (!(norms[i]! > 0) || sumZ[i] === 0) continue;
    const f = lam * sumZ[i]! / norms[i]!;
    for (let c = 0; c < d; c++) grads.W_dec[i * d + c]! += f * p.W_dec[i * d + c]!;
  }
  // latents: ∂L/∂z_bi = dx̂_b·W_i + λ/(B·s)·||W_i|| where z > 0 (ReLU)
  const dPre = be.sparseDot(z, grad, p.W_dec, d);
  for (let e = 0; e < nnz; e++) dPre[e]! += lam * norms[z.idx[e]!]!;
  encoderBackward(be, p, z, dPre, xc, grad, grads, uncentred);
  return result;
}

const Options = z.object(penaltyOptions(0.1, 'L1 coefficient'));
type Options = z.infer<typeof Options>;

export const relu: Architecture<Options> = {
  name: 'relu',
  summary: 'ReLU, L1 weighted by decoder norms; knob --lambda or --target-l0; no unit-norm decoder constraint',
  options: Options,
  extraShapes: () => ({}),
  extraInit: () => 0,
  unitNormDecoder: false,
  // ReLU's tuned rate was 4× the other architectures' in both synthetic regimes of the
  // architecture study (64× vs 16× the fit, 244 steps; EXPERIMENTS.md): its L1 moves the code's
  // biases by Adam steps of at most lr each, so it comes down to a sparse code more slowly
  lrScale: 4,
  initScale: 'reconstruction',
  ...penaltyInit((params, q) => {
    for (let i = 0; i < q.length; i++) params.b_enc[i]! -= q[i]!;
  }),
  objective({ be, dOut, options: o, params, bf16 }) {
    const transcoder = dOut !== undefined;
    const grads = zerosLike(params);
    const lambda = new LambdaSchedule(o);
    let progressNow = 0;
    return {
      params, grads, unitRows: {},
      step(x, rows, _dead, progress, target) {
        progressNow = progress;
        const lam = lambda.at(progress);
        const r = reluForwardBackward(be, params, x, rows, lam, grads, target, o.centerInput, bf16);
        return { loss: r.loss, fvu: r.fvu, l0: r.l0, auxLoss: 0, acts: r.z.vals, indices: r.z.idx, extra: { l1: r.l1, lambda: lam } };
      },
      afterStep(res) {
        lambda.observe(res.l0, progressNow);
      },
      state: () => ({ json: lambda.state(), tensors: {} }),
      restore(json) {
        lambda.restore(json);
      },
      saved: () => centredForm(params, o, transcoder),
    };
  },
  encode: (be, sae, x, B, o = {}) => encodeThreshold(be, sae.params, x, B, new Float32Array(sae.cfg.n), sae.cfg.dOut !== undefined, inferenceEncoder(be, sae, o.precision)),
  saeFields: () => ({ k: 0 }),
  saelens: { architecture: 'standard', imports: true },
};
