/**
 * Cross-layer transcoder (Ameisen et al. 2025, "Circuit Tracing"; docs/design.md §4.7). A row
 * holds the MLP inputs of S consecutive layers side by side, x = [x_0 | … | x_{S−1}] (width
 * S·d_m), its target the MLP outputs y = [y_0 | … | y_{S−1}] (data: lm:…,stack=1). The n latents
 * come in S groups of m = n/S; latent i of group l = ⌊i/m⌋ reads layer l only and writes to
 * layers l..S−1:
 *
 *   pre_l = x_l·W_enc[group l]ᵀ + b_enc[group l]          z_l = ReLU(TopK_k(pre_l))  (k per layer)
 *   (or BatchTopK per layer: the top B·k of the batch's pre_l; at inference pre_l·H(pre_l − θ_l)
 *   with θ_l the running mean of the layer's smallest kept activation, as BatchTopK;
 *   or JumpReLU: z_i = pre_i·H(pre_i − θ_i) with θ trained, L += λ·L0 (./jumprelu.ts's
 *   straight-through threshold gradient), θ set on the first batch so k per layer fire)
 *   ŷ_l′  = Σ_{l ≤ l′} z_l·W_dec[group l, block l′] + b_dec[block l′]
 *   L     = Σ_l′ ||y_l′ − ŷ_l′||² / Σ_b ||y_l′ − ȳ_l′||²      (each output layer's FVU, summed)
 *   AuxK (TopK and BatchTopK codes): each layer's top k_aux dead latents (by pre-activation)
 *   reconstruct the residual e = y − ŷ (ŷ detached) through their decoders, without b_dec:
 *   L += α·Σ_l′ ||e_l′ − ê_l′||² / Σ_b ||e_l′ − ē_l′||²   (OpenAI's normalization, per layer)
 *
 * Storage: W_enc [n, d_m] (each latent's weights over its own layer), W_dec [n, S·d_m] with the
 * blocks before a latent's layer held at zero (their gradient is masked), so the generic sparse
 * decode of a code over all n latents is the CLT's reconstruction, and a decoder row's unit norm
 * is the norm over every layer it writes to.
 */
import { z } from 'zod';
import { fixedK, type Backend, type SparseRows } from '../../compute/backend.js';
import { LINEAR_INIT_ROW_NORM, type Sae, type SaeParams } from '../common.js';
import { diffSq, preActivationQuantiles, scatterAdd, sumRows, zerosLike } from '../primitives.js';
import { JUMP_EPS, kernelWindow, thresholdGradient, windowSums } from './jumprelu.js';
import { K_SPARSE_OPTIONS, RunningThreshold } from './kfamily.js';
import { LambdaSchedule, penaltyOptions } from './penalty.js';
import type { Architecture, Encoded, Objective } from './types.js';

const PENALTY = penaltyOptions(0.003, 'L0 penalty');
const Options = z.object({
  k: z.number().int().positive().default(32).describe('active latents per token (TopK; a cross-layer transcoder: per layer, the mean per layer with --clt-select batch, the initial per layer with jumprelu)'),
  cltLayers: z.number({ error: 'a cross-layer transcoder needs --clt-layers L, the number of layers side by side in each row (lm:…,stack=1)' }).int().positive().describe('the number of layers side by side in each row (the data\'s d = layers × d_model)'),
  cltSelect: z.enum(['row', 'batch', 'jumprelu']).default('row').describe('each layer\'s code: its row\'s top k (row), the top B·k of the batch (batch: BatchTopK, a threshold per layer at inference), or a trained threshold per latent with an L0 penalty (jumprelu: --lambda or --target-l0, --jump-eps)'),
  kAux: K_SPARSE_OPTIONS.kAux,
  auxAlpha: K_SPARSE_OPTIONS.auxAlpha,
  lambda: PENALTY.lambda,
  lambdaWarmup: PENALTY.lambdaWarmup,
  targetL0: PENALTY.targetL0,
  jumpEps: JUMP_EPS,
});
type Options = { k: number; cltLayers: number; cltSelect: 'row' | 'batch' | 'jumprelu'; kAux?: number; auxAlpha: number; lambda: number; lambdaWarmup: number; targetL0?: number; jumpEps: number };

/** The shape of a CLT: S layers of width dm, m latents per layer. */
export interface CltDims {
  S: number;
  dm: number;
  m: number;
}

export function cltDims(d: number, n: number, layers: number, where = 'clt'): CltDims {
  if (d % layers !== 0) throw new Error(`${where}: the data's width d=${d} is not ${layers} layers side by side (--clt-layers ${layers})`);
  if (n % layers !== 0) throw new Error(`${where}: --latents ${n} does not split into ${layers} equal groups, one per layer (--clt-layers ${layers})`);
  return { S: layers, dm: d / layers, m: n / layers };
}

/** The forward of a CLT on rows x [B, S·dm]: the code over all n latents (row b's entries in
 *  group order) and the reconstruction [B, S·dm]. */
interface Forward {
  z: SparseRows;
  recon: Float32Array;
  /** layer l's rows x_l [B, dm] (kept for the encoder's gradient) */
  xl: Float32Array[];
  /** each layer's code (local indices; entries in z's order within each row) */
  groups: SparseRows[];
  /** each layer's smallest positive kept activation (batch selection; Infinity where none) */
  minKept: number[];
  /** JumpReLU training: each layer's entries in the kernel window |pre − θ| < ε/2 (global indices) */
  windows: SparseRows[];
  /** AuxK: each layer's top k_aux dead latents (local indices, ReLU'd), where asked */
  aux: SparseRows[];
}

/** AuxK's selection: the dead latents (global flags) and how many of each layer's to take. */
interface AuxSelect {
  dead: Uint8Array;
  k: number;
}

/** How a layer's code is chosen: its rows' top k, the batch's top B·k (training), or the
 *  stored thresholds (inference after batch selection). */
type Selection = { kind: 'row'; k: number } | { kind: 'batch'; k: number } | { kind: 'threshold'; theta: Float32Array; eps?: number };

/** Layer l's rows x_l [B, dm] out of rows x [B, S·dm]. */
function layerRows(x: Float32Array, B: number, g: CltDims, l: number): Float32Array {
  const w = g.S * g.dm, xs = new Float32Array(B * g.dm);
  for (let b = 0; b < B; b++) xs.set(x.subarray(b * w + l * g.dm, b * w + (l + 1) * g.dm), b * g.dm);
  return xs;
}

/** Group l's encoder rows W_enc [m, dm]. */
const groupOf = (W_enc: Float32Array, l: number, g: CltDims): Float32Array => W_enc.subarray(l * g.m * g.dm, (l + 1) * g.m * g.dm);

/** Group l's code of its layer's rows xs [B, dm] (local indices, ReLU'd values). */
function encodeGroup(be: Backend, p: SaeParams, xs: Float32Array, B: number, l: number, sel: Selection, g: CltDims, pre = new Float32Array(B * g.m)): SparseRows {
  const { dm, m } = g, bias = p.b_enc.subarray(l * m, (l + 1) * m);
  be.gemm({ a: xs, b: groupOf(p.W_enc, l, g), c: pre, m: B, n: m, k: dm, transB: true });
  if (sel.kind === 'row') {
    const kk = Math.min(sel.k, m), top = be.topk(pre, B, m, kk, { bias });
    for (let e = 0; e < B * kk; e++) if (!(top.vals[e]! > 0)) top.vals[e] = 0;
    return fixedK(top.vals, top.idx, B, kk);
  }
  for (let b = 0; b < B; b++) for (let j = 0; j < m; j++) pre[b * m + j]! += bias[j]!;
  if (sel.kind === 'threshold') return be.threshold(pre, B, m, sel.theta.subarray(l * m, (l + 1) * m));
  const z = be.topkBatch(pre, B, m, B * Math.min(sel.k, m));
  for (let e = 0; e < z.vals.length; e++) if (!(z.vals[e]! > 0)) { z.vals[e] = 0; z.idx[e] = -1; }
  return z;
}

/** The layers' codes side by side, row by row, with global latent indices. */
function mergeGroups(groups: SparseRows[], B: number, m: number): SparseRows {
  const rowPtr = new Int32Array(B + 1);
  for (let b = 0; b < B; b++) rowPtr[b + 1] = rowPtr[b]! + groups.reduce((a, z) => a + z.rowPtr[b + 1]! - z.rowPtr[b]!, 0);
  const vals = new Float32Array(rowPtr[B]!), idx = new Int32Array(rowPtr[B]!);
  let o = 0;
  for (let b = 0; b < B; b++) {
    groups.forEach((z, l) => {
      for (let e = z.rowPtr[b]!; e < z.rowPtr[b + 1]!; e++, o++) {
        vals[o] = z.vals[e]!;
        idx[o] = z.idx[e]! < 0 ? -1 : z.idx[e]! + l * m;
      }
    });
  }
  return { rows: B, rowPtr, idx, vals };
}

function forward(be: Backend, p: SaeParams, x: Float32Array, B: number, sel: Selection, g: CltDims, recon = new Float32Array(B * g.S * g.dm), auxSel?: AuxSelect): Forward {
  const { S, dm, m } = g, w = S * dm;
  const pre = new Float32Array(B * m);
  const xl: Float32Array[] = [], groups: SparseRows[] = [], minKept: number[] = [], windows: SparseRows[] = [], aux: SparseRows[] = [];
  for (let l = 0; l < S; l++) {
    const xs = layerRows(x, B, g, l);
    xl.push(xs);
    const zl = encodeGroup(be, p, xs, B, l, sel, g, pre);
    groups.push(zl);
    minKept.push(zl.vals.reduce((a, v) => (v > 0 ? Math.min(a, v) : a), Infinity));
    if (sel.kind === 'threshold' && sel.eps !== undefined) windows.push(kernelWindow(be, pre, B, sel.theta.subarray(l * m, (l + 1) * m), sel.eps, l * m));
    if (auxSel) {
      // (a row selection leaves b_enc out of pre; the batch selection has added it)
      const kA = Math.min(auxSel.k, m), top = be.topk(pre, B, m, kA, { mask: auxSel.dead.subarray(l * m, (l + 1) * m), ...(sel.kind === 'row' ? { bias: p.b_enc.subarray(l * m, (l + 1) * m) } : {}) });
      for (let e = 0; e < top.vals.length; e++) if (!(top.vals[e]! > 0) || top.idx[e]! < 0) { top.vals[e] = 0; top.idx[e] = -1; }
      aux.push(fixedK(top.vals, top.idx, B, kA));
    }
  }
  const z = mergeGroups(groups, B, m);
  be.sparseDecode(z, p.W_dec, w, p.b_dec, recon);
  return { z, recon, xl, groups, minKept, windows, aux };
}

/** How a saved CLT encodes: row top k, or its stored per-layer thresholds. */
function inference(sae: Sae): Selection {
  return sae.cfg.selection ? { kind: 'threshold', theta: sae.params.threshold! } : { kind: 'row', k: sae.cfg.k };
}

/** Layer l's code (its latent group, global indices) of that layer's rows xs [R, dm]. */
export function cltCode(be: Backend, sae: Sae, l: number, xs: Float32Array, R: number): SparseRows {
  const g = cltDimsOf(sae.cfg);
  const z = encodeGroup(be, sae.params, xs, R, l, inference(sae), g);
  return { ...z, idx: z.idx.map((i) => (i < 0 ? -1 : i + l * g.m)) };
}

/** What layer l's latents write when the model runs (a splice): their code of that layer's rows
 *  xs [R, dm] and its decode to every layer, writes [R, S·dm] without b_dec (blocks before l are
 *  zero). */
export function cltLayerWrites(be: Backend, sae: Sae, l: number, xs: Float32Array, R: number): { z: SparseRows; writes: Float32Array } {
  const g = cltDimsOf(sae.cfg), z = cltCode(be, sae, l, xs, R);
  return { z, writes: be.sparseDecode(z, sae.params.W_dec, g.S * g.dm, null) };
}

/** Each output layer's Σ_b ||y_l − ȳ_l||² over rows y [B, S·dm]. */
function layerVariances(y: Float32Array, B: number, g: CltDims): Float64Array {
  const { S, dm } = g, w = S * dm, out = new Float64Array(S);
  for (let l = 0; l < S; l++) {
    let total = 0;
    for (let c = l * dm; c < (l + 1) * dm; c++) {
      let s = 0, s2 = 0;
      for (let b = 0; b < B; b++) { const v = y[b * w + c]!; s += v; s2 += v * v; }
      total += s2 - (s * s) / Math.max(B, 1);
    }
    out[l] = Math.max(total, 1e-30);
  }
  return out;
}

/** Zeroes the decoder blocks before each latent's layer (rows [n, S·dm]). */
export function maskDecoder(W: Float32Array, g: CltDims): void {
  const w = g.S * g.dm;
  for (let i = 0; i < g.S * g.m; i++) W.fill(0, i * w, i * w + Math.floor(i / g.m) * g.dm);
}

/**
 * One step's forward, loss and backward (gradients written into grads). Exported for the
 * finite-difference test.
 */
export function cltForwardBackward(be: Backend, p: SaeParams, x: Float32Array, y: Float32Array, B: number, k: number, g: CltDims,
  grads: SaeParams | null, select: 'row' | 'batch' | { lambda: number; eps: number } = 'row',
  auxK?: AuxSelect & { alpha: number }): { loss: number; fvu: number; layerFvu: number[]; z: SparseRows; l0: number; minKept: number[]; windowEntries: number; auxLoss: number } {
  const { S, dm, m } = g, w = S * dm;
  const jump = typeof select === 'object' ? select : null;
  // AuxK engages where some latent is dead (TopK and BatchTopK codes)
  const auxSel = !jump && auxK && auxK.k > 0 && auxK.dead.some((v) => v !== 0) ? auxK : undefined;
  const f = forward(be, p, x, B, jump ? { kind: 'threshold', theta: p.threshold!, eps: jump.eps } : { kind: select as 'row' | 'batch', k }, g, undefined, auxSel);
  const tv = layerVariances(y, B, g);
  const grad = new Float32Array(B * w);
  let loss = 0, sse = 0, tvAll = 0;
  const layerFvu: number[] = [];
  for (let l = 0; l < S; l++) {
    let s = 0;
    for (let b = 0; b < B; b++) {
      const o = b * w + l * dm;
      s += diffSq(f.recon.subarray(o, o + dm), y.subarray(o, o + dm), dm, grads ? grad.subarray(o, o + dm) : null, 2 / tv[l]!);
    }
    layerFvu.push(s / tv[l]!);
    loss += s / tv[l]!;
    sse += s;
    tvAll += tv[l]!;
  }
  let nnz = 0;
  for (let e = 0; e < f.z.vals.length; e++) if (f.z.vals[e]! > 0) nnz++;
  // JumpReLU: the L0 penalty over every layer's latents
  if (jump) loss += (jump.lambda * nnz) / Math.max(B, 1);
  // AuxK: the dead latents' decode against the residual e = y − ŷ (ŷ detached), each layer
  // normalized by the residual's own variance (0 where it has none)
  let auxLoss = 0, zAux: SparseRows | null = null, gAux: Float32Array | null = null;
  if (auxSel) {
    zAux = mergeGroups(f.aux, B, m);
    const eHat = be.sparseDecode(zAux, p.W_dec, w, null);
    const e = Float32Array.from(y, (v, i) => v - f.recon[i]!);
    const ev = layerVariances(e, B, g);
    gAux = new Float32Array(B * w);
    for (let l = 0; l < S; l++) {
      const norm = ev[l]! > 1e-30 ? 1 / ev[l]! : 0;
      for (let b = 0; b < B; b++) {
        for (let c = l * dm; c < (l + 1) * dm; c++) {
          const diff = eHat[b * w + c]! - e[b * w + c]!;
          auxLoss += diff * diff * norm;
          gAux[b * w + c] = 2 * auxSel.alpha * norm * diff;
        }
      }
    }
    loss += auxSel.alpha * auxLoss;
  }
  if (grads) {
    // decoder: dW_dec[i] = Σ_b z_bi·dŷ_b, none before the latent's layer; db_dec = Σ_b dŷ_b
    be.sparseAccumulate(f.z, grad, w, grads.W_dec, true);
    if (zAux) be.sparseAccumulate(zAux, gAux!, w, grads.W_dec);
    maskDecoder(grads.W_dec, g);
    grads.b_dec.fill(0);
    sumRows(grad, B, w, grads.b_dec, true);
    // latents: dz = dŷ·W_dec[i] (W_dec's masked blocks are zero), through the ReLU
    const dz = be.sparseDot(f.z, grad, p.W_dec, w);
    for (let e = 0; e < dz.length; e++) if (!(f.z.vals[e]! > 0)) dz[e] = 0;
    grads.b_enc.fill(0);
    scatterAdd({ ...f.z, vals: dz }, grads.b_enc);
    // encoder: group l's dW_enc[i] = Σ_b dpre_bi·x_l,b over its own entries (z holds each row's
    // groups in order, so a group's entries are read back in its own order)
    const dPre = f.groups.map((zl) => ({ ...zl, vals: new Float32Array(zl.vals.length) }));
    let e = 0;
    for (let b = 0; b < B; b++) {
      for (const d of dPre) for (let t = d.rowPtr[b]!; t < d.rowPtr[b + 1]!; t++, e++) d.vals[t] = dz[e]!;
    }
    dPre.forEach((d, l) => be.sparseAccumulate(d, f.xl[l]!, dm, groupOf(grads.W_enc, l, g), true));
    // AuxK's dead latents: dz_aux = dê·W_dec[i] through their ReLU, into W_enc, b_enc
    if (zAux) {
      const dAux = be.sparseDot(zAux, gAux!, p.W_dec, w);
      for (let e = 0; e < dAux.length; e++) if (!(zAux.vals[e]! > 0)) dAux[e] = 0;
      scatterAdd({ ...zAux, vals: dAux }, grads.b_enc);
      let o = 0;
      const kA = f.aux[0]!.idx.length / Math.max(B, 1);
      for (let b = 0; b < B; b++) for (const a of f.aux) for (let t = 0; t < kA; t++, o++) a.vals[b * kA + t] = dAux[o]!;
      f.aux.forEach((a, l) => be.sparseAccumulate(a, f.xl[l]!, dm, groupOf(grads.W_enc, l, g)));
    }
    // JumpReLU's thresholds, straight through (./jumprelu.ts): ∂L/∂θ_i = −(1/ε)·Σ over the
    // window |pre_bi − θ_i| < ε/2 of (θ_i·∂L/∂z_bi + λ/B)
    if (jump) {
      const A = new Float64Array(S * m), C = new Float64Array(S * m);
      for (const win of f.windows) windowSums(be, win, grad, p.W_dec, w, A, C);
      thresholdGradient(p.threshold!, A, C, jump.lambda, B, jump.eps, grads.threshold!);
    }
  }
  const windowEntries = f.windows.reduce((a, win) => a + win.idx.length, 0);
  return { loss, fvu: sse / tvAll, layerFvu, z: f.z, l0: nnz / Math.max(B, 1), minKept: f.minKept, windowEntries, auxLoss };
}

/** JumpReLU's first thresholds: each latent's at the pre-activation it exceeds on k/m of the
 *  batch's rows (the penalized architectures' placement, ./penalty.ts), so about k of each
 *  layer's latents fire per token from the start (not half of them, as a small fixed threshold
 *  would make them at the linear init). */
function placeThresholds(be: Backend, p: SaeParams, x: Float32Array, B: number, k: number, g: CltDims): void {
  const { S, m } = g;
  for (let l = 0; l < S; l++) {
    const group = { W_enc: groupOf(p.W_enc, l, g), b_enc: p.b_enc.subarray(l * m, (l + 1) * m), W_dec: p.W_dec, b_dec: p.b_dec };
    const q = preActivationQuantiles(be, group, layerRows(x, B, g, l), B, true, Math.min(k, m) / m);
    p.threshold!.set(q.map((v) => Math.max(v, 1e-6)), l * m);
  }
}

/**
 * Scales W_enc, b_enc and the thresholds by one factor c (every pre-activation scales by c, the
 * same latents fire, the code scales by c) so that the batch's reconstruction is the least-squares
 * fit c = Σ⟨y − b_dec, r⟩ / Σ‖r‖² of the code's part r, where c > 0, as ./init.ts's joint scale
 * does for JumpReLU SAEs. It helps only as far as the fresh code correlates with the targets: a
 * transcoder's encoder is drawn apart from its decoder, so c is often ≈ 0 or negative and left
 * alone (5 × 1,024 latents on stories260K: c = −0.004, first FVU 2.3; 5 × 64 latents: a
 * positive c, FVU 1.2 → below 1).
 */
function fitCodeScale(be: Backend, p: SaeParams, x: Float32Array, y: Float32Array, B: number, g: CltDims): void {
  const f = forward(be, p, x, B, { kind: 'threshold', theta: p.threshold! }, g), w = g.S * g.dm;
  let num = 0, den = 0;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < w; c++) {
      const r = f.recon[b * w + c]! - p.b_dec[c]!;
      num += (y[b * w + c]! - p.b_dec[c]!) * r;
      den += r * r;
    }
  }
  const scale = den > 0 ? num / den : 0;
  if (!(scale > 0)) return;
  for (const t of [p.W_enc, p.b_enc, p.threshold!]) for (let e = 0; e < t.length; e++) t[e]! *= scale;
}

/** AuxK latents per layer and row: the option, else d_m/2 (OpenAI's d/2 at one layer's width),
 *  at most m; 0 for JumpReLU codes. */
function cltKAux(o: Options, g: CltDims): number {
  return o.cltSelect === 'jumprelu' ? 0 : Math.min(g.m, o.kAux ?? Math.floor(g.dm / 2));
}

export function cltDimsOf(sae: { d: number; n: number; layers?: number }): CltDims {
  return cltDims(sae.d, sae.n, sae.layers ?? 1);
}

export const clt: Architecture<Options> = {
  name: 'clt',
  summary: 'cross-layer transcoder: the MLP inputs of --clt-layers layers side by side (lm:…,stack=1), k per layer, each latent writing to its layer and every later one',
  options: Options,
  check: (o, s) => (s.latents % o.cltLayers !== 0 ? { field: 'latents', message: `a cross-layer transcoder's latents split into ${o.cltLayers} equal groups (--clt-layers); got ${s.latents}` }
    : o.k <= s.latents / o.cltLayers ? null : { field: 'k', message: `k (per layer) must be <= the latents per layer (${s.latents / o.cltLayers}), got ${o.k}` }),
  resolve: (o, dims) => ({ k_aux: cltKAux(o, cltDims(dims.d, dims.n, o.cltLayers, '--arch clt')) }),
  // the thresholds of a CLT that encodes by them (BatchTopK's per layer, JumpReLU's per latent)
  extraShapes: (_d, n, fields) => (fields.selection ? { threshold: [n] } : {}),
  extraInit: () => 0,
  unitNormDecoder: true,
  initScale: 'linear',
  // Gao et al.'s fit at one layer's latents: at the fit for all n (3.6e-4 for 5 × 1,024 latents on
  // stories260K) held-out FVU was 0.72 after 150k tokens, at one layer's (8e-4) 0.47
  lrLatents: (o, n) => n / o.cltLayers,
  afterInit(params, o, transcoder) {
    if (!transcoder) throw new Error('--arch clt: a cross-layer transcoder maps MLP inputs to MLP outputs; pass --transcode with data that has targets (lm:…,site=mlp_in,targetSite=mlp_out,stack=1)');
    const n = params.b_enc.length, dOut = params.b_dec.length, d = params.W_enc.length / n;
    if (d !== dOut) throw new Error(`--arch clt: inputs (d=${d}) and targets (d_out=${dOut}) must be the same layers side by side`);
    const g = cltDims(d, n, o.cltLayers, '--arch clt');
    // each latent keeps its own layer's block of the drawn encoder row (at the linear init's
    // norm) and its drawn decoder row from its layer on (at unit norm over those layers; a
    // decoder drawn on its own layer only, the later blocks from zero, trained no better: held-out
    // FVU 0.754 against 0.721 after 150k tokens on stories260K)
    const W_enc = new Float32Array(n * g.dm);
    for (let i = 0; i < n; i++) {
      const l = Math.floor(i / g.m), row = params.W_enc.subarray(i * d + l * g.dm, i * d + (l + 1) * g.dm);
      let s = 0;
      for (const v of row) s += v * v;
      const c = LINEAR_INIT_ROW_NORM / Math.sqrt(Math.max(s, 1e-30));
      for (let j = 0; j < g.dm; j++) W_enc[i * g.dm + j] = row[j]! * c;
    }
    params.W_enc = W_enc;
    maskDecoder(params.W_dec, g);
    for (let i = 0; i < n; i++) {
      const row = params.W_dec.subarray(i * d, (i + 1) * d);
      let s = 0;
      for (const v of row) s += v * v;
      const c = 1 / Math.sqrt(Math.max(s, 1e-30));
      for (let j = 0; j < d; j++) row[j]! *= c;
    }
  },
  objective(ctx): Objective {
    const { be, d, n, dOut, options } = ctx;
    if (dOut === undefined) throw new Error('--arch clt: a cross-layer transcoder needs --transcode and data with targets (lm:…,site=mlp_in,targetSite=mlp_out,stack=1)');
    if (dOut !== d) throw new Error(`--arch clt: inputs (d=${d}) and targets (d_out=${dOut}) must be the same layers side by side`);
    if (ctx.bf16) throw new Error('--arch clt: --precision bf16 is not supported for cross-layer transcoders (use f32)');
    if (ctx.comm || ctx.shard) throw new Error('--arch clt: cross-layer transcoders train in one process');
    const g = cltDims(d, n, options.cltLayers, '--arch clt');
    const jump = options.cltSelect === 'jumprelu', batch = options.cltSelect === 'batch';
    // BatchTopK's per-layer inference threshold is a running statistic, not an Adam parameter;
    // JumpReLU's thresholds are trained
    const { threshold, ...rest } = ctx.params;
    const params: SaeParams = jump ? ctx.params : rest;
    const grads = zerosLike(params);
    const theta = Array.from({ length: g.S }, (_, l) => new RunningThreshold(threshold?.[l * g.m] ?? 0));
    const lambda = new LambdaSchedule({ ...options, centerInput: false }, 0.005);
    const kAux = jump ? 0 : cltKAux(options, g);
    // JumpReLU's thresholds are placed on the first batch (so that k per layer fire), once
    let placed = false, progressNow = 0;
    return {
      params, grads, unitRows: { W_dec: d },
      step(x, rows, dead, progress, target) {
        progressNow = progress;
        if (jump && !placed) {
          placeThresholds(be, params, x, rows, options.k, g);
          fitCodeScale(be, params, x, target!, rows, g);
          placed = true;
        }
        const lam = lambda.at(progress);
        const r = cltForwardBackward(be, params, x, target!, rows, options.k, g, grads, jump ? { lambda: lam, eps: options.jumpEps } : options.cltSelect as 'row' | 'batch',
          { dead, k: kAux, alpha: options.auxAlpha });
        const extra: Record<string, number> = Object.fromEntries(r.layerFvu.map((v, l) => [`fvu_layer_${l}`, v]));
        if (batch) r.minKept.forEach((v, l) => { extra[`min_kept_${l}`] = v; });
        if (jump) Object.assign(extra, { window_entries: r.windowEntries, lambda: lam });
        return { loss: r.loss, fvu: r.fvu, l0: r.l0, auxLoss: r.auxLoss, acts: r.z.vals, indices: r.z.idx, extra };
      },
      afterStep(res) {
        if (jump) {
          lambda.observe(res.l0, progressNow);
          const t = params.threshold!;
          for (let i = 0; i < n; i++) if (!(t[i]! > 1e-6)) t[i] = 1e-6;
          return;
        }
        // θ_l: BatchTopK's running threshold of layer l's smallest kept activation
        if (batch) theta.forEach((t, l) => t.observe(res.extra[`min_kept_${l}`]));
      },
      state: () => ({ json: batch ? { theta: theta.map((t) => [t.value, t.ema, t.batches]) } : jump ? { placed, ...lambda.state() } : {}, tensors: {} }),
      restore(json) {
        const got = json.theta as [number, number, number][] | undefined;
        if (batch && got) got.forEach(([value, ema, batches], l) => Object.assign(theta[l]!, { value, ema, batches }));
        if (jump) {
          placed = json.placed === true;
          lambda.restore(json);
        }
      },
      saved: (): SaeParams => (batch ? { ...params, threshold: Float32Array.from({ length: n }, (_, i) => theta[Math.floor(i / g.m)]!.value) } : params),
    };
  },
  encode(be: Backend, sae: Sae, x: Float32Array, B: number, o = {}): Encoded {
    const sel = o.k !== undefined && !sae.cfg.selection ? { kind: 'row' as const, k: o.k } : inference(sae);
    const f = forward(be, sae.params, x, B, sel, cltDimsOf(sae.cfg));
    return { z: f.z, recon: f.recon };
  },
  saeFields: (o) => ({ k: o.k, layers: o.cltLayers, ...(o.cltSelect !== 'row' ? { selection: o.cltSelect } : {}) }),
};
