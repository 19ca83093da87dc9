/**
 * ReLU SAE with the decoder-norm-weighted L1 penalty (Anthropic, "Circuits Updates", April 2024):
 *
 *   pre = (x − b_dec)·W_encᵀ + b_enc     z = ReLU(pre)     x̂ = z·W_dec + b_dec
 *   L   = FVU + λ·(1/B)·Σ_b Σ_i z_bi·||W_dec,i||₂          (no unit-norm constraint on W_dec)
 */
import type { Backend, SparseRows } from '../compute/backend.js';
import type { SaeParams } from './common.js';
import { preActivations } from './encode.js';
import { totalVariance } from './topk.js';

export interface ReluResult {
  loss: number;
  fvu: number;
  l0: number;
  /** the penalty term before λ: mean Σ_i z_i·||W_dec,i|| */
  l1: number;
  z: SparseRows;
}

export function reluForwardBackward(be: Backend, p: SaeParams, x: Float32Array, B: number, lambda: number, grads: SaeParams | null): ReluResult {
  const d = p.b_dec.length, n = p.b_enc.length;
  const { xc, pre } = preActivations(be, p, x, B, d, n);
  const z = be.threshold(pre, B, n, new Float32Array(n));
  const recon = be.sparseDecode(z, p.W_dec, d, p.b_dec);
  const norms = be.rowNorms(p.W_dec, n, d);
  const denom = Math.max(totalVariance(x, B, d), 1e-30);
  const grad = new Float32Array(B * d);
  let sse = 0;
  for (let e = 0; e < B * d; e++) {
    const diff = recon[e]! - x[e]!;
    sse += diff * diff;
    grad[e] = (2 / denom) * diff;
  }
  const nnz = z.rowPtr[B]!;
  const sumZ = new Float64Array(n);
  let l1 = 0;
  for (let e = 0; e < nnz; e++) { sumZ[z.idx[e]!]! += z.vals[e]!; l1 += z.vals[e]! * norms[z.idx[e]!]!; }
  l1 /= Math.max(B, 1);
  const fvu = sse / denom;
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
  be.sparseAccumulate({ ...z, vals: dPre }, xc, d, grads.W_enc, true);
  grads.b_enc.fill(0);
  for (let e = 0; e < nnz; e++) grads.b_enc[z.idx[e]!]! += dPre[e]!;
  grads.b_dec.fill(0);
  for (let b = 0; b < B; b++) for (let c = 0; c < d; c++) grads.b_dec[c]! += grad[b * d + c]!;
  be.gemm({ a: grads.b_enc, b: p.W_enc, c: grads.b_dec, m: 1, n: d, k: n, alpha: -1, beta: 1 });
  return result;
}
