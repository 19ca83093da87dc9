/**
 * The maths every architecture shares (docs/design.md §4): centring, pre-activations, the
 * total variance that normalizes every reconstruction loss, the threshold-coded forward and
 * the encoder backward. Each architecture file composes these; none re-implements them.
 *
 *   xc  = x − b_dec   (x itself for a transcoder, whose b_dec lives in the output space)
 *   pre = xc·W_encᵀ + b_enc
 */
import type { Backend, Precision, SparseRows } from '../compute/backend.js';
import type { Comm } from '../compute/comm.js';
import type { Sae, SaeParams } from './common.js';

/** Widths of a parameter set: d (input), n (latents), dOut (decoder rows; d for an SAE). */
export function widths(p: SaeParams): { d: number; n: number; dOut: number } {
  const n = p.b_enc.length;
  return { n, d: p.W_enc.length / n, dOut: p.b_dec.length };
}

/** A skip transcoder's skip path: out [B, dOut] += x·W_skipᵀ (nothing without W_skip). */
export function addSkipPath(be: Backend, p: SaeParams, x: Float32Array, B: number, out: Float32Array): void {
  if (!p.W_skip) return;
  const { d, dOut } = widths(p);
  be.gemm({ a: x.subarray(0, B * d), b: p.W_skip, c: out.subarray(0, B * dOut), m: B, n: dOut, k: d, transB: true, beta: 1 });
}

/** xc [B, d] = x − b_dec, or a copy of x for a transcoder. */
export function centre(p: SaeParams, x: Float32Array, B: number, d: number, transcoder: boolean, xc: Float32Array = new Float32Array(B * d)): Float32Array {
  if (transcoder) xc.set(x.subarray(0, B * d));
  else for (let b = 0; b < B; b++) for (let c = 0; c < d; c++) xc[b * d + c] = x[b * d + c]! - p.b_dec[c]!;
  return xc;
}

/**
 * The encoder GEMM at --precision bf16 (docs/design.md §7.1): a bfloat16 copy of W_enc [n, d],
 * made by `refresh` (once per training step, after the optimizer has moved the f32 master
 * weights; once for an SAE at inference), and each batch's centred rows rounded to bf16 as
 * they are multiplied; products accumulate in f32.
 */
export class Bf16Encoder {
  readonly W: Float32Array;
  readonly bits: Uint16Array;
  private rows = new Uint16Array(0);
  constructor(W: Float32Array) {
    this.W = W;
    this.bits = new Uint16Array(W.length);
  }
  refresh(be: Backend): this {
    be.toBf16(this.W, this.bits);
    return this;
  }
  /** The rows xc [B, d] rounded to bf16, as the GEMM reads them (a buffer reused per call). */
  roundRows(be: Backend, xc: Float32Array, B: number, d: number): Uint16Array {
    if (this.rows.length < B * d) this.rows = new Uint16Array(B * d);
    return be.toBf16(xc.subarray(0, B * d), this.rows.subarray(0, B * d));
  }
  /** pre [B, n] = xc·Wᵀ (+ bias [n]) from the last refreshed copy. */
  gemm(be: Backend, xc: Float32Array, B: number, d: number, pre: Float32Array, bias?: Float32Array): void {
    be.gemmBf16({ a: this.roundRows(be, xc, B, d), b: this.bits, c: pre, m: B, n: this.W.length / d, k: d, bias });
  }
}

/** The encoder GEMM's operands for centred rows xc [B, d] and W [n, d]: as they are (f32), or
 *  with bf16 (a copy of W) the rows rounded to bf16 and the copy's bits. */
export function encoderOperands(be: Backend, W: Float32Array, xc: Float32Array, B: number, d: number, bf16: Bf16Encoder | null | undefined):
  { a: Float32Array | Uint16Array; w: Float32Array | Uint16Array } {
  if (!bf16) return { a: xc.subarray(0, B * d), w: W };
  if (bf16.W !== W) throw new Error('saekit: the bf16 encoder copy is of another weight matrix');
  return { a: bf16.roundRows(be, xc, B, d), w: bf16.bits };
}

/** The precision a run or an SAE asked for, as it runs here: bf16 only where the backend has a
 *  native bf16 GEMM (else f32, the fallback, said once on stderr). */
let warnedFallback = false;
export function resolvePrecision(be: Backend, asked: Precision | undefined): Precision {
  if (asked !== 'bf16') return 'f32';
  if (be.bf16.fast) return 'bf16';
  if (!warnedFallback) {
    warnedFallback = true;
    process.stderr.write(`saekit: precision bf16 falls back to f32 here: ${be.bf16.detail}\n`);
  }
  return 'f32';
}

/** The bf16 copies of inference encoders, made once per weight matrix. */
const inferenceCopies = new WeakMap<Float32Array, Bf16Encoder>();
/** The encoder copy an SAE's inference uses: at `precision` (else the SAE's own, cfg.json
 *  `precision`) when that resolves to bf16 here, else null (f32). An SAE's weights do not change
 *  once it is used for inference, so the copy is made once. */
export function inferenceEncoder(be: Backend, sae: Sae, precision?: Precision): Bf16Encoder | null {
  if (resolvePrecision(be, precision ?? sae.cfg.precision) !== 'bf16') return null;
  const W = sae.params.W_enc;
  let got = inferenceCopies.get(W);
  if (!got) inferenceCopies.set(W, (got = new Bf16Encoder(W).refresh(be)));
  return got;
}

/** xc = centre(x) [B, d] and pre = xc·Wᵀ + bias [B, n] (bias rows first, the GEMM adds on);
 *  W/bias default to the encoder (the VAE passes its log-variance head); with bf16 (a copy of
 *  this W) the GEMM runs in bf16. */
export function preActivations(be: Backend, p: SaeParams, x: Float32Array, B: number, transcoder: boolean,
  o: { xc?: Float32Array; pre?: Float32Array; W?: Float32Array; bias?: Float32Array; bf16?: Bf16Encoder | null } = {}): { xc: Float32Array; pre: Float32Array } {
  const { d, n } = widths(p);
  const W = o.W ?? p.W_enc, bias = o.bias ?? p.b_enc;
  const xc = centre(p, x, B, d, transcoder, o.xc);
  const pre = o.pre ?? new Float32Array(B * n);
  if (o.bf16) {
    if (o.bf16.W !== W) throw new Error('saekit: the bf16 encoder copy is of another weight matrix');
    o.bf16.gemm(be, xc, B, d, pre.subarray(0, B * n), bias);
    return { xc, pre };
  }
  for (let b = 0; b < B; b++) pre.set(bias, b * n);
  be.gemm({ a: xc.subarray(0, B * d), b: W, c: pre.subarray(0, B * n), m: B, n, k: d, transB: true, beta: 1 });
  return { xc, pre };
}

/** Float64 [d + 2]: the column sums of e = y − ŷ (ŷ null: e = y) over rows [B, d], then
 *  Σ||e||² and the row count: what a variance needs, summable across ranks. */
function moments(y: Float32Array, yHat: Float32Array | null, B: number, d: number): Float64Array {
  const m = new Float64Array(d + 2);
  let sq = 0;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < d; c++) {
      const v = yHat ? y[b * d + c]! - yHat[b * d + c]! : y[b * d + c]!;
      m[c]! += v;
      sq += v * v;
    }
  }
  m[d] = sq;
  m[d + 1] = B;
  return m;
}

/** Σ_b ||e_b − ē||² from moments (Σ||e||² − rows·||ē||²), summed over the ranks of comm first. */
function varianceOf(m: Float64Array, d: number, comm?: Comm): number {
  if (comm && comm.size > 1) comm.sum(m);
  let meanSq = 0;
  for (let c = 0; c < d; c++) meanSq += m[c]! * m[c]!;
  return m[d]! - meanSq / Math.max(m[d + 1]!, 1);
}

/** Σ_b ||x_b − mean(x)||² over rows x [B, d], in float64, in one pass (Σ||x||² − B·||mean||²);
 *  with comm, over the rows of every rank (the global batch's variance). */
export function totalVariance(x: Float32Array, B: number, d: number, comm?: Comm): number {
  return varianceOf(moments(x, null, B, d), d, comm);
}

/** Σ_b ||e_b − ē||² of the residual e = y − ŷ over rows [B, d], in float64 (with comm, over
 *  every rank's rows). */
export function residualVariance(y: Float32Array, yHat: Float32Array, B: number, d: number, comm?: Comm): number {
  return varianceOf(moments(y, yHat, B, d), d, comm);
}

/** Σ (a − b)² over [len] and, when grad is given, grad = scale·(a − b). */
export function diffSq(a: Float32Array, b: Float32Array, len: number, grad: Float32Array | null, scale: number): number {
  let s = 0;
  for (let e = 0; e < len; e++) {
    const diff = a[e]! - b[e]!;
    s += diff * diff;
    if (grad) grad[e] = scale * diff;
  }
  return s;
}

/** out[i] += z's value at every entry of latent i (entries with index −1 are empty). */
export function scatterAdd(z: SparseRows, out: Float32Array): void {
  const nnz = z.rowPtr[z.rows]!;
  for (let e = 0; e < nnz; e++) {
    const i = z.idx[e]!;
    if (i >= 0) out[i]! += z.vals[e]!;
  }
}

/** Σ_b g_b over rows g [B, w], written into out [w]. */
export function sumRows(g: Float32Array, B: number, w: number, out: Float32Array, accumulate = false): void {
  if (!accumulate) out.fill(0);
  for (let b = 0; b < B; b++) for (let c = 0; c < w; c++) out[c]! += g[b * w + c]!;
}

/** All entries of dense rows [B, n] as CSR (the VAE's code). */
export function denseRows(vals: Float32Array, B: number, n: number): SparseRows {
  const rowPtr = Int32Array.from({ length: B + 1 }, (_, b) => b * n);
  const idx = Int32Array.from({ length: B * n }, (_, e) => e % n);
  return { rows: B, rowPtr, idx, vals: vals.subarray(0, B * n) };
}

/** Zero tensors with the same names and sizes. */
export function zerosLike(p: SaeParams): SaeParams {
  return Object.fromEntries(Object.entries(p).map(([k, t]) => [k, new Float32Array((t as Float32Array).length)])) as unknown as SaeParams;
}

/** The threshold-coded forward of JumpReLU and ReLU: z = pre·1[pre > θ] (CSR),
 *  ŷ = z·W_dec + b_dec, and dL/dŷ = 2(ŷ − y)/Σ||y − ȳ||² of the FVU loss (y = target ?? x).
 *  `uncentred`: the encoder reads x itself, not x − b_dec (always so for a transcoder). */
export function thresholdForward(be: Backend, p: SaeParams, x: Float32Array, B: number, theta: Float32Array, target: Float32Array | undefined,
  uncentred: boolean, bf16: Bf16Encoder | null = null): { xc: Float32Array; pre: Float32Array; z: SparseRows; grad: Float32Array; fvu: number; denom: number } {
  const { n, dOut } = widths(p);
  const { xc, pre } = preActivations(be, p, x, B, uncentred, { bf16 });
  const y = target ?? x;
  const z = be.threshold(pre, B, n, theta);
  const recon = be.sparseDecode(z, p.W_dec, dOut, p.b_dec);
  const denom = Math.max(totalVariance(y, B, dOut), 1e-30);
  const grad = new Float32Array(B * dOut);
  const sse = diffSq(recon, y, B * dOut, grad, 2 / denom);
  return { xc, pre, z, grad, fvu: sse / denom, denom };
}

/** Given dL/dpre at the code's entries (dPre, in z's layout) and dL/dŷ (grad [B, dOut]): the
 *  encoder gradients, and b_dec's (its reconstruction part Σ_b dL/dŷ_b, minus its part through
 *  the encoder input x − b_dec, which a transcoder does not have). */
export function encoderBackward(be: Backend, p: SaeParams, z: SparseRows, dPre: Float32Array, xc: Float32Array, grad: Float32Array, grads: SaeParams,
  transcoder: boolean): void {
  const { d, n, dOut } = widths(p);
  const dz = { ...z, vals: dPre };
  be.sparseAccumulate(dz, xc, d, grads.W_enc, true);
  grads.b_enc.fill(0);
  scatterAdd(dz, grads.b_enc);
  sumRows(grad, z.rows, dOut, grads.b_dec);
  if (!transcoder) be.gemm({ a: grads.b_enc, b: p.W_enc, c: grads.b_dec, m: 1, n: d, k: n, alpha: -1, beta: 1 });
}

/** An SAE trained with an uncentred encoder (pre = x·W_encᵀ + b_enc) in saekit's centred
 *  form: b_enc + W_enc·b_dec, so that (x − b_dec)·W_encᵀ + b_enc′ gives the same pre
 *  (sign −1: the other way, a centred encoder as an uncentred one). */
export function foldCentring(p: SaeParams, sign: 1 | -1 = 1): SaeParams {
  const { d, n } = widths(p);
  const b_enc = Float32Array.from(p.b_enc);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += p.W_enc[i * d + c]! * p.b_dec[c]!;
    b_enc[i]! += sign * s;
  }
  return { ...p, b_enc };
}

/** Inference of a threshold code: z = pre·1[pre > θ] with the stored θ (BatchTopK, Matryoshka,
 *  JumpReLU) or θ = 0 (ReLU). */
export function encodeThreshold(be: Backend, p: SaeParams, x: Float32Array, B: number, theta: Float32Array, transcoder: boolean,
  bf16: Bf16Encoder | null = null): { z: SparseRows; recon: Float32Array } {
  const { n, dOut } = widths(p);
  const { pre } = preActivations(be, p, x, B, transcoder, { bf16 });
  const z = be.threshold(pre, B, n, theta);
  return { z, recon: be.sparseDecode(z, p.W_dec, dOut, p.b_dec) };
}

/** Inference with the thresholds the SAE stores (`threshold`: BatchTopK, Matryoshka, JumpReLU),
 *  at the asked precision (else the SAE's own). */
export function encodeStoredThreshold(be: Backend, sae: Sae, x: Float32Array, B: number, o: { precision?: Precision } = {}): { z: SparseRows; recon: Float32Array } {
  return encodeThreshold(be, sae.params, x, B, sae.params.threshold!, sae.cfg.dOut !== undefined, inferenceEncoder(be, sae, o.precision));
}

/**
 * Per-latent quantiles of the sample's pre-activations: for each latent the value it exceeds
 * on a fraction `rate` of the rows (at most 2^24 entries of [rows, n] are formed).
 */
export function preActivationQuantiles(be: Backend, p: SaeParams, x: Float32Array, rows: number, transcoder: boolean, rate: number): Float32Array {
  const n = p.b_enc.length, d = p.W_enc.length / n;
  const R = Math.max(1, Math.min(rows, Math.floor(2 ** 24 / n)));
  const { pre } = preActivations(be, p, x.subarray(0, R * d), R, transcoder);
  const out = new Float32Array(n), col = new Float32Array(R);
  const at = Math.min(R - 1, Math.max(0, Math.floor((1 - rate) * R)));
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < R; r++) col[r] = pre[r * n + i]!;
    col.sort();
    out[i] = col[at]!;
  }
  return out;
}
