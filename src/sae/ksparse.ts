/**
 * The k-sparse family: TopK (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"),
 * BatchTopK (Bussmann et al. 2024) and Matryoshka (Bussmann et al. 2025) share everything but
 * the selection and the reconstruction terms:
 *
 *   pre = (x − b_dec)·W_encᵀ + b_enc        z = ReLU(TopK_k(pre))        x̂ = z·W_dec + b_dec
 *   L   = Σ_b ||x_b − x̂_b||² / Σ_b ||x_b − x̄||²                          (= FVU)
 *   BatchTopK: the top B·k entries of the whole batch's pre (per-row L0 varies).
 *   Matryoshka: BatchTopK, and L = mean over prefixes m_j of the FVU of z[:m_j]·W_dec[:m_j] + b_dec.
 *   AuxK: among dead latents take the top k_aux pre-activations, ê = z_aux·W_dec (no bias),
 *         with e = x − x̂ (x̂ detached):  L_aux = ||e − ê||² / Σ_b ||e_b − ē||²   (OpenAI's normalization)
 *   Multi-TopK: L(k) + L(4k)/8 on the same pre-activations.
 *   total = L (+ L(4k)/8) + α·L_aux
 *
 * The backward is written by hand and sparse: only the dense encoder GEMM touches all n
 * latents; every gradient of W_enc, b_enc, W_dec flows through the B·k kept entries.
 */
import { fixedK, type Backend, type SparseRows } from '../compute/backend.js';
import type { Comm } from '../compute/comm.js';
import type { SaeParams } from './common.js';
import { addSkipPath, type Bf16Encoder, centre, diffSq, encoderOperands, preActivations, residualVariance, scatterAdd, sumRows, totalVariance } from './primitives.js';
import { localCode, shardDecode, shardTopK, type LatentShard } from './shard.js';

export interface TopKLossOptions {
  k: number;
  /** add L(4k)/8 */
  multiTopK: boolean;
  /** AuxK: number of dead latents used per row (0 disables) */
  kAux: number;
  /** weight α of the AuxK loss */
  auxAlpha: number;
  /** AuxK through dense GEMMs over the dead latents ('dense'), through the sparse kernels
   *  ('sparse'), or whichever is cheaper for the number of dead latents ('auto', default) */
  auxPath?: 'auto' | 'dense' | 'sparse';
  /** 'row': k per row (TopK); 'batch': B·k over the batch (BatchTopK, Matryoshka) */
  selection?: 'row' | 'batch';
  /** Matryoshka: nested prefix sizes (ascending, the last = n), each reconstruction's FVU weighted 1/J */
  prefixes?: number[];
  /** transcoder: the input is not centred by b_dec (it lives in another space) and the
   *  reconstruction is compared with the target rows */
  transcoder?: boolean;
  /** --precision bf16: the refreshed bf16 copy of W_enc the encoder GEMM reads (else f32) */
  bf16?: Bf16Encoder | null;
  /** data parallel: x is this rank's slice of the global batch; the losses' normalizers are the
   *  global batch's, so the ranks' gradients sum to the global gradient (row selection only) */
  comm?: Comm;
  /** latent split (./shard.ts): params hold this rank's latents, x the whole batch; the top k is
   *  chosen over every rank's latents and the reconstruction summed over them (row selection) */
  shard?: LatentShard;
}

/** Named results of one forward(+backward) pass. */
export interface TopKStepResult {
  /** the total loss that was differentiated */
  loss: number;
  /** fraction of variance unexplained by the k-sparse reconstruction */
  fvu: number;
  /** Σ ||x − x̂||² over the batch */
  sse: number;
  /** Σ ||x − x̄||² over the batch */
  totalVariance: number;
  /** L(4k) when multiTopK, else NaN */
  fvuMulti: number;
  /** the AuxK loss before α, 0 when no latent is dead */
  auxLoss: number;
  /** mean nonzero latents per row */
  l0: number;
  /** the kept entries (flat, row by row) after ReLU and their latent indices (−1 = empty; under
   *  a latent split, this rank's local indices, −1 for other ranks' latents) */
  acts: Float32Array;
  indices: Int32Array;
  /** the code as CSR */
  z: SparseRows;
  /** BatchTopK: the smallest positive kept activation of the batch (the threshold statistic) */
  minKept: number;
}

/** Buffers reused across steps. */
export class TopKWorkspace {
  readonly B: number;
  readonly n: number;
  readonly d: number;
  /** output width (the target's, for a transcoder; else d) */
  readonly dOut: number;
  readonly kTop: number;
  readonly kAux: number;
  private preBuf: Float32Array | null = null;
  xc: Float32Array;
  recon: Float32Array;
  grad: Float32Array;
  recon4: Float32Array;
  grad4: Float32Array;
  auxRecon: Float32Array;
  topVals: Float32Array;
  topIdx: Int32Array;
  acts: Float32Array;
  indices: Int32Array;
  auxVals: Float32Array;
  auxIdx: Int32Array;
  /** n: the latents this process holds (a rank's share under a latent split) */
  constructor(B: number, n: number, d: number, o: TopKLossOptions, dOut = d) {
    this.B = B; this.n = n; this.d = d; this.dOut = dOut;
    const total = o.shard?.total ?? n;
    this.kTop = Math.min(total, o.multiTopK ? 4 * o.k : o.k);
    this.kAux = Math.min(total, o.kAux);
    this.xc = new Float32Array(B * d);
    this.recon = new Float32Array(B * dOut);
    this.grad = new Float32Array(B * dOut);
    this.recon4 = o.multiTopK ? new Float32Array(B * dOut) : new Float32Array(0);
    this.grad4 = o.multiTopK ? new Float32Array(B * dOut) : new Float32Array(0);
    this.auxRecon = new Float32Array(this.kAux > 0 ? B * dOut : 0);
    this.topVals = new Float32Array(B * this.kTop);
    this.topIdx = new Int32Array(B * this.kTop);
    this.acts = new Float32Array(B * o.k);
    this.indices = new Int32Array(B * o.k);
    this.auxVals = new Float32Array(B * this.kAux);
    this.auxIdx = new Int32Array(B * this.kAux);
  }
  /** The B×n pre-activation matrix, made on first use: only batch selection stores it (a row
   *  top-k runs the GEMM and the selection in one pass). */
  get pre(): Float32Array {
    return (this.preBuf ??= new Float32Array(this.B * this.n));
  }
}

/**
 * The k best of pre = (x − b_dec)·W_encᵀ + b_enc in each row into ws.topVals/topIdx [B, k] (under
 * a latent split, over every rank's latents, with global indices), in one pass of the encoder
 * GEMM that never stores pre (be.encodeTopk); with `dead`, also AuxK's k_aux best among the dead
 * latents into ws.auxVals/auxIdx from the same pass.
 */
export function encodeTopK(be: Backend, p: SaeParams, x: Float32Array, B: number, ws: TopKWorkspace, k: number,
  o: { transcoder?: boolean; bf16?: Bf16Encoder | null; shard?: LatentShard; dead?: Uint8Array | null } = {}): void {
  const { d, n } = ws;
  const { shard, dead } = o;
  const xc = centre(p, x, B, d, Boolean(o.transcoder), ws.xc);
  // a rank selects among its own latents first (local indices), then the ranks' lists merge
  const kOwn = Math.min(k, n), kAuxOwn = Math.min(ws.kAux, n);
  const own = shard ? { vals: new Float32Array(B * kOwn), idx: new Int32Array(B * kOwn) } : { vals: ws.topVals, idx: ws.topIdx };
  const ownAux = dead && shard ? { vals: new Float32Array(B * kAuxOwn), idx: new Int32Array(B * kAuxOwn) } : { vals: ws.auxVals, idx: ws.auxIdx };
  be.encodeTopk({ ...encoderOperands(be, p.W_enc, xc, B, d, o.bf16), bias: p.b_enc, m: B, n, d, k: kOwn, ...own,
    ...(dead && ws.kAux > 0 ? { aux: { mask: dead, k: kAuxOwn, ...ownAux } } : {}) });
  if (!shard) return;
  shardTopK(shard, own, kOwn, B, k, { vals: ws.topVals, idx: ws.topIdx });
  if (dead && ws.kAux > 0) shardTopK(shard, ownAux, kAuxOwn, B, ws.kAux, { vals: ws.auxVals, idx: ws.auxIdx });
}

/** ReLU of the first k of each row's kTop best entries into acts/indices [B, k]; returns L0·B. */
function keepFirst(ws: TopKWorkspace, B: number, k: number, vals: Float32Array, idx: Int32Array): number {
  let nnz = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < k; t++) {
      const v = ws.topVals[b * ws.kTop + t]!;
      vals[b * k + t] = v > 0 ? v : 0;
      idx[b * k + t] = ws.topIdx[b * ws.kTop + t]!;
      if (v > 0) nnz++;
    }
  }
  return nnz;
}

/** Sets dz[p] to 0 where the kept activation is 0 (ReLU's gradient). */
function reluMask(z: SparseRows, dz: Float32Array): void {
  for (let p = 0; p < dz.length; p++) if (!(z.vals[p]! > 0)) dz[p] = 0;
}

export interface TopKGrads extends SaeParams {}

/**
 * Forward pass, losses and (when grads is given) the full backward for one batch x [B, d].
 * dead [n] marks dead latents for AuxK (null or all-zero disables it). Gradients are written
 * (not accumulated) into grads.
 */
export function topkForwardBackward(be: Backend, p: SaeParams, x: Float32Array, B: number, o: TopKLossOptions,
  ws: TopKWorkspace, dead: Uint8Array | null, grads: TopKGrads | null, target: Float32Array = x): TopKStepResult {
  const { n, kTop, dOut } = ws;
  const tc = Boolean(o.transcoder);
  const shard = o.shard;
  const k = Math.min(o.k, shard?.total ?? n);
  // a code's reconstruction: from this process's decoder rows, or summed over the ranks' shards;
  // a skip transcoder adds its skip path x·W_skipᵀ (its input is not centred: ws.xc is x)
  const decode = (code: SparseRows, out: Float32Array, bias: Float32Array | null = p.b_dec): void => {
    if (shard) shardDecode(be, shard, code, p.W_dec, dOut, bias, out);
    else be.sparseDecode(code, p.W_dec, dOut, bias, out);
    addSkipPath(be, p, ws.xc, B, out);
  };
  const batch = o.selection === 'batch';
  // AuxK's dead latents, and which path selects among them (decided before the encoder runs:
  // the sparse path's selection comes from the encoder's own pass)
  let nDead = 0;
  if (dead && ws.kAux > 0) for (let i = 0; i < n; i++) nDead += dead[i]!;
  if (shard && dead && ws.kAux > 0) {
    const all = new Float64Array([nDead]);
    shard.comm.sum(all);
    nDead = all[0]!;
  }
  // dense GEMMs over the dead columns cost ~B·#dead·d at GEMM speed; the sparse kernels
  // cost ~B·k_aux·d at memory speed, about 16× slower per flop on this kind of CPU
  // (a latent split selects through the sparse path, whose selection it can share)
  const auxPath = o.auxPath ?? 'auto';
  const auxDense = !shard && (batch || auxPath === 'dense' || (auxPath === 'auto' && nDead <= 16 * ws.kAux));
  let z: SparseRows, nnz: number, minKept = Infinity;
  if (batch) {
    // pre with b_enc, then the top B·k of it all
    preActivations(be, p, x, B, tc, { xc: ws.xc, pre: ws.pre, bf16: o.bf16 });
    z = be.topkBatch(ws.pre, B, n, B * k);
    nnz = 0;
    for (let e = 0; e < z.vals.length; e++) {
      if (z.vals[e]! > 0) { nnz++; minKept = Math.min(minKept, z.vals[e]!); } else { z.vals[e] = 0; z.idx[e] = -1; }
    }
  } else {
    encodeTopK(be, p, x, B, ws, kTop, { transcoder: tc, bf16: o.bf16, ...(shard ? { shard } : {}), dead: nDead > 0 && !auxDense ? dead : null });
    nnz = keepFirst(ws, B, k, ws.acts, ws.indices);
    z = fixedK(ws.acts, ws.indices, B, k);
    // from here on a rank sees its own latents of the code
    if (shard) z = localCode(z, shard);
  }
  const denom = Math.max(totalVariance(target, B, dOut, o.comm), 1e-30);
  // reconstruction terms: the code itself, or (Matryoshka) each nested prefix of it
  const terms: ReconTerm[] = o.prefixes
    ? o.prefixes.map((m, j) => prefixTerm(z, m, j === o.prefixes!.length - 1 ? ws : null, B, dOut, 1 / o.prefixes!.length))
    : [{ z, recon: ws.recon, grad: ws.grad, weight: 1 }];
  let loss = 0, sse = 0;
  for (const t of terms) {
    decode(t.z, t.recon);
    // dL/dx̂ = 2·weight·(x̂ − x)/denom
    const s = diffSq(t.recon, target, B * dOut, grads ? t.grad : null, (2 * t.weight) / denom);
    loss += (t.weight * s) / denom;
    sse = s; // the last term is the full code
  }
  const fvu = sse / denom;

  let fvuMulti = NaN;
  let z4: SparseRows | null = null;
  if (o.multiTopK && !batch) {
    const v4 = new Float32Array(B * kTop);
    for (let e = 0; e < B * kTop; e++) v4[e] = ws.topVals[e]! > 0 ? ws.topVals[e]! : 0;
    z4 = fixedK(v4, ws.topIdx, B, kTop);
    if (shard) z4 = localCode(z4, shard);
    decode(z4, ws.recon4);
    fvuMulti = diffSq(ws.recon4, target, B * dOut, grads ? ws.grad4 : null, 2 / (8 * denom)) / denom;
    loss += fvuMulti / 8;
  }

  let auxLoss = 0;
  let aux: AuxCode | null = null;
  if (nDead > 0) {
    aux = auxDense ? denseAux(be, p, ws, dead!, B) : sparseAux(be, p, ws, B, shard);
    aux.decode(ws.auxRecon);
    // target: the residual e = x − x̂ (x̂ detached); ê − e = auxRecon + recon − x. As OpenAI's
    // reference code, the loss is the normalized MSE of ê against e: divided by the residual's
    // own variance Σ_b ||e_b − ē||² (0 when the residual has none, as their nan_to_num(0))
    const eVar = residualVariance(target, ws.recon, B, dOut, o.comm);
    const norm = eVar > 1e-30 ? 1 / eVar : 0;
    let s = 0;
    for (let e = 0; e < B * dOut; e++) {
      const diff = ws.auxRecon[e]! + ws.recon[e]! - target[e]!;
      s += diff * diff;
      if (grads) ws.auxRecon[e] = 2 * o.auxAlpha * norm * diff; // reuse as dL/dê
    }
    auxLoss = s * norm;
    loss += o.auxAlpha * auxLoss;
  }

  if (grads) {
    backward(be, p, B, ws, z, terms, z4, aux, grads, tc, shard);
  }
  return { loss, fvu, sse, totalVariance: denom, fvuMulti, auxLoss, l0: nnz / Math.max(B, 1), acts: z.vals, indices: z.idx, z, minKept };
}

/** One reconstruction x̂ = z·W_dec + b_dec in the loss, with its weight. */
interface ReconTerm {
  z: SparseRows;
  recon: Float32Array;
  grad: Float32Array;
  weight: number;
}

/** The code restricted to latents < m (entries of other latents emptied, so the CSR layout and
 *  entry positions stay those of z); the full prefix writes into the workspace's buffers. */
function prefixTerm(z: SparseRows, m: number, ws: TopKWorkspace | null, B: number, d: number, weight: number): ReconTerm {
  const idx = Int32Array.from(z.idx, (i) => (i < m ? i : -1));
  return { z: { ...z, idx }, recon: ws ? ws.recon : new Float32Array(B * d), grad: ws ? ws.grad : new Float32Array(B * d), weight };
}

function backward(be: Backend, p: SaeParams, B: number, ws: TopKWorkspace, z: SparseRows, terms: ReconTerm[],
  z4: SparseRows | null, aux: AuxCode | null, g: TopKGrads, transcoder: boolean, shard?: LatentShard): void {
  const { d, kTop, dOut } = ws;
  const k = z.idx.length / Math.max(B, 1);
  g.b_enc.fill(0);
  g.b_dec.fill(0);
  // decoder: dW_dec[i] = Σ_b z_bi·dx̂_b; db_dec = Σ_b dx̂_b (the AuxK decode has no bias); a skip
  // transcoder's dW_skip = Σ_b dx̂_bᵀ·x_b
  terms.forEach((t, j) => {
    be.sparseAccumulate(t.z, t.grad, dOut, g.W_dec, j === 0);
    sumRows(t.grad, B, dOut, g.b_dec, true);
    if (g.W_skip) be.gemm({ a: t.grad, b: ws.xc, c: g.W_skip, m: dOut, n: d, k: B, transA: true, beta: j === 0 ? 0 : 1 });
  });
  if (z4) {
    be.sparseAccumulate(z4, ws.grad4, dOut, g.W_dec);
    sumRows(ws.grad4, B, dOut, g.b_dec, true);
    if (g.W_skip) be.gemm({ a: ws.grad4, b: ws.xc, c: g.W_skip, m: dOut, n: d, k: B, transA: true, beta: 1 });
  }

  // latents: dz = Σ_terms dx̂·W_dec[i] (entries share z's layout), through the ReLU; the
  // k-path and the 4k-path share entries
  const dz = be.sparseDot(terms[0]!.z, terms[0]!.grad, p.W_dec, dOut);
  for (const t of terms.slice(1)) {
    const more = be.sparseDot(t.z, t.grad, p.W_dec, dOut);
    for (let e = 0; e < dz.length; e++) dz[e]! += more[e]!;
  }
  reluMask(z, dz);
  let dPre: SparseRows;
  if (z4) {
    const dz4 = be.sparseDot(z4, ws.grad4, p.W_dec, dOut);
    reluMask(z4, dz4);
    for (let b = 0; b < B; b++) for (let t = 0; t < k; t++) dz4[b * kTop + t]! += dz[b * k + t]!;
    dPre = { ...z4, vals: dz4 };
  } else {
    dPre = { ...z, vals: dz };
  }
  // encoder: dW_enc[i] = Σ_b dpre_bi·(x_b − b_dec); db_enc[i] = Σ_b dpre_bi
  be.sparseAccumulate(dPre, ws.xc, d, g.W_enc, true);
  scatterAdd(dPre, g.b_enc);
  // AuxK (dL/dê is in ws.auxRecon): into W_dec, and through the dead pre-activations into W_enc, b_enc
  aux?.backward(ws.auxRecon, g);
  // b_dec also enters the encoder input (not a transcoder's): db_dec −= Σ_i db_enc[i]·W_enc[i]
  // (under a latent split, a sum over every rank's latents)
  if (transcoder) return;
  if (!shard) {
    be.gemm({ a: g.b_enc, b: p.W_enc, c: g.b_dec, m: 1, n: d, k: ws.n, alpha: -1, beta: 1 });
    return;
  }
  const part = new Float32Array(d);
  be.gemm({ a: g.b_enc, b: p.W_enc, c: part, m: 1, n: d, k: ws.n, alpha: -1 });
  shard.comm.sum(part);
  for (let c = 0; c < d; c++) g.b_dec[c]! += part[c]!;
}

/** The AuxK code z_aux [B, k_aux] (dead latents only): its decode and its backward. */
interface AuxCode {
  /** out [B, d] = z_aux·W_dec (no bias) */
  decode(out: Float32Array): void;
  /** adds the gradients of ê = z_aux·W_dec given gAux = dL/dê [B, d] */
  backward(gAux: Float32Array, g: TopKGrads): void;
}

/** AuxK through the sparse kernels, from the selection the encoder's pass made (ws.auxVals,
 *  ws.auxIdx; under a latent split, over every rank's dead latents, decoded summed over the ranks). */
function sparseAux(be: Backend, p: SaeParams, ws: TopKWorkspace, B: number, shard?: LatentShard): AuxCode {
  const { d, dOut } = ws;
  for (let e = 0; e < ws.auxVals.length; e++) if (!(ws.auxVals[e]! > 0)) ws.auxVals[e] = 0;
  let zAux = fixedK(ws.auxVals, ws.auxIdx, B, ws.kAux);
  if (shard) zAux = localCode(zAux, shard);
  return {
    decode: (out) => {
      if (shard) shardDecode(be, shard, zAux, p.W_dec, dOut, null, out);
      else be.sparseDecode(zAux, p.W_dec, dOut, null, out);
    },
    backward: (gAux, g) => {
      be.sparseAccumulate(zAux, gAux, dOut, g.W_dec);
      const dAux = be.sparseDot(zAux, gAux, p.W_dec, dOut);
      reluMask(zAux, dAux);
      const dAuxPre = { ...zAux, vals: dAux };
      be.sparseAccumulate(dAuxPre, ws.xc, d, g.W_enc);
      scatterAdd(dAuxPre, g.b_enc);
    },
  };
}

/**
 * The same through dense GEMMs over the dead latents only: their pre-activations
 * (x − b_dec)·W_enc[dead]ᵀ + b_enc[dead] [B, #dead] by one GEMM (so the B×n matrix is not
 * scanned again), the top k_aux of each row, Z [B, #dead], and W_dec[dead] [#dead, d].
 */
function denseAux(be: Backend, p: SaeParams, ws: TopKWorkspace, dead: Uint8Array, B: number): AuxCode {
  const { d, n, dOut } = ws;
  const cols: number[] = [];
  for (let i = 0; i < n; i++) if (dead[i]) cols.push(i);
  const nD = cols.length;
  const gather = (src: Float32Array, width: number): Float32Array => {
    const out = new Float32Array(nD * width);
    cols.forEach((i, c) => out.set(src.subarray(i * width, (i + 1) * width), c * width));
    return out;
  };
  const preD = new Float32Array(B * nD);
  be.gemm({ a: ws.xc, b: gather(p.W_enc, d), c: preD, m: B, n: nD, k: d, transB: true });
  const bD = gather(p.b_enc, 1);
  const Z = new Float32Array(B * nD);
  if (ws.kAux >= nD) {
    // every dead latent is kept: no selection needed
    for (let b = 0; b < B; b++) for (let c = 0; c < nD; c++) Z[b * nD + c] = Math.max(0, preD[b * nD + c]! + bD[c]!);
  } else {
    const kA = ws.kAux;
    const top = be.topk(preD, B, nD, kA, { bias: bD });
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < kA; t++) {
        const c = top.idx[b * kA + t]!, v = top.vals[b * kA + t]!;
        if (c >= 0 && v > 0) Z[b * nD + c] = v;
      }
    }
  }
  const Wd = gather(p.W_dec, dOut);
  const scatterRows = (src: Float32Array, into: Float32Array, w: number) => {
    cols.forEach((i, c) => { for (let e = 0; e < w; e++) into[i * w + e]! += src[c * w + e]!; });
  };
  return {
    decode: (out) => be.gemm({ a: Z, b: Wd, c: out.subarray(0, B * dOut), m: B, n: dOut, k: nD }),
    backward: (gAux, g) => {
      const Gd = new Float32Array(nD * dOut);
      be.gemm({ a: Z, b: gAux.subarray(0, B * dOut), c: Gd, m: nD, n: dOut, k: B, transA: true });
      scatterRows(Gd, g.W_dec, dOut);
      // dZ = gAux·W_dec[dead]ᵀ, kept only at the selected positive entries (ReLU)
      const dZ = new Float32Array(B * nD);
      be.gemm({ a: gAux.subarray(0, B * dOut), b: Wd, c: dZ, m: B, n: nD, k: dOut, transB: true });
      for (let e = 0; e < dZ.length; e++) if (!(Z[e]! > 0)) dZ[e] = 0;
      const Ge = new Float32Array(nD * d);
      be.gemm({ a: dZ, b: ws.xc.subarray(0, B * d), c: Ge, m: nD, n: d, k: B, transA: true });
      scatterRows(Ge, g.W_enc, d);
      for (let b = 0; b < B; b++) for (let c = 0; c < nD; c++) g.b_enc[cols[c]!]! += dZ[b * nD + c]!;
    },
  };
}
