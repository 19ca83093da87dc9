/**
 * Inference for every architecture: the code z (CSR) and the reconstruction of rows x [B, d].
 *   topk:       z = ReLU(TopK_k(pre))
 *   jumprelu, batchtopk, matryoshka: z = pre·H(pre − θ) with the stored threshold θ [n]
 *              (BatchTopK/Matryoshka: the running mean of the smallest kept activation)
 *   relu:       z = ReLU(pre)
 *   vae:        z = μ (the posterior mean; dense)
 * with pre = (x − b_dec)·W_encᵀ + b_enc.
 */
import type { Backend, SparseRows } from '../compute/backend.js';
import type { Sae, SaeParams } from './common.js';
import { TopKWorkspace, topkForwardBackward, totalVariance } from './topk.js';

/** xc = x − b_dec [B, d] (x itself for a transcoder) and pre = xc·W_encᵀ + b_enc [B, n] (bias
 *  rows, then the GEMM adds on). */
export function preActivations(be: Backend, p: SaeParams, x: Float32Array, B: number, d: number, n: number, transcoder = false,
  xc = new Float32Array(B * d), pre = new Float32Array(B * n), W = p.W_enc, bias = p.b_enc): { xc: Float32Array; pre: Float32Array } {
  if (transcoder) xc.set(x.subarray(0, B * d));
  else for (let b = 0; b < B; b++) for (let c = 0; c < d; c++) xc[b * d + c] = x[b * d + c]! - p.b_dec[c]!;
  for (let b = 0; b < B; b++) pre.set(bias, b * n);
  be.gemm({ a: xc.subarray(0, B * d), b: W, c: pre.subarray(0, B * n), m: B, n, k: d, transB: true, beta: 1 });
  return { xc, pre };
}

/** All entries of dense rows [B, n] as CSR (the VAE's code). */
export function denseRows(vals: Float32Array, B: number, n: number): SparseRows {
  const rowPtr = Int32Array.from({ length: B + 1 }, (_, b) => b * n);
  const idx = Int32Array.from({ length: B * n }, (_, e) => e % n);
  return { rows: B, rowPtr, idx, vals: vals.subarray(0, B * n) };
}

export interface Encoded {
  z: SparseRows;
  recon: Float32Array;
}

/** Encodes and decodes x [B, d]; `k` overrides a TopK SAE's k. */
export function encodeSae(be: Backend, sae: Sae, x: Float32Array, B: number, k?: number): Encoded {
  const { d, n, arch, dOut = d } = sae.cfg;
  const p = sae.params, transcoder = sae.cfg.dOut !== undefined;
  if (arch === 'topk') {
    const kk = Math.min(k ?? sae.cfg.k, n);
    const o = { k: kk, multiTopK: false, kAux: 0, auxAlpha: 0, transcoder };
    const ws = new TopKWorkspace(B, n, d, o, dOut);
    // (the target only enters the loss, which is not used here)
    const res = topkForwardBackward(be, p, x, B, o, ws, null, null, new Float32Array(B * dOut));
    return { z: res.z, recon: ws.recon };
  }
  const { pre } = preActivations(be, p, x, B, d, n, transcoder);
  const z = arch === 'vae' ? denseRows(pre, B, n) : be.threshold(pre, B, n, arch === 'relu' ? new Float32Array(n) : p.threshold!);
  return { z, recon: be.sparseDecode(z, p.W_dec, dOut, p.b_dec) };
}

/** The threshold-coded forward shared by JumpReLU and ReLU: z = pre·1[pre > θ] (CSR),
 *  x̂ = z·W_dec + b_dec, and dL/dx̂ = 2(x̂ − x)/Σ||x − x̄||² of the FVU loss. */
export function thresholdForward(be: Backend, p: SaeParams, x: Float32Array, B: number, theta: Float32Array, target?: Float32Array):
  { xc: Float32Array; pre: Float32Array; z: SparseRows; grad: Float32Array; fvu: number } {
  const n = p.b_enc.length, d = p.W_enc.length / n, dOut = p.b_dec.length;
  const { xc, pre } = preActivations(be, p, x, B, d, n, target !== undefined);
  const y = target ?? x;
  const z = be.threshold(pre, B, n, theta);
  const recon = be.sparseDecode(z, p.W_dec, dOut, p.b_dec);
  const denom = Math.max(totalVariance(y, B, dOut), 1e-30);
  const grad = new Float32Array(B * dOut);
  let sse = 0;
  for (let e = 0; e < B * dOut; e++) {
    const diff = recon[e]! - y[e]!;
    sse += diff * diff;
    grad[e] = (2 / denom) * diff;
  }
  return { xc, pre, z, grad, fvu: sse / denom };
}

/** Given dL/dpre at the code's entries (dPre, in z's layout), the encoder gradients and b_dec's
 *  (its reconstruction part Σ_b dL/dx̂_b, minus its part through the encoder input x − b_dec). */
export function encoderBackward(be: Backend, p: SaeParams, z: SparseRows, dPre: Float32Array, xc: Float32Array, grad: Float32Array, grads: SaeParams,
  transcoder = false): void {
  const n = p.b_enc.length, d = p.W_enc.length / n, dOut = p.b_dec.length, B = z.rows, nnz = z.rowPtr[B]!;
  be.sparseAccumulate({ ...z, vals: dPre }, xc, d, grads.W_enc, true);
  grads.b_enc.fill(0);
  for (let e = 0; e < nnz; e++) if (z.idx[e]! >= 0) grads.b_enc[z.idx[e]!]! += dPre[e]!;
  grads.b_dec.fill(0);
  for (let b = 0; b < B; b++) for (let c = 0; c < dOut; c++) grads.b_dec[c]! += grad[b * dOut + c]!;
  if (!transcoder) be.gemm({ a: grads.b_enc, b: p.W_enc, c: grads.b_dec, m: 1, n: d, k: n, alpha: -1, beta: 1 });
}
