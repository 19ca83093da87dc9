/**
 * JumpReLU SAE (Rajamanoharan et al. 2024), with thresholds θ [n] parameterized directly:
 *
 *   pre = x·W_encᵀ + b_enc (or (x − b_dec)·W_encᵀ + b_enc with centerInput)
 *   z_i = pre_i·H(pre_i − θ_i)     x̂ = z·W_dec + b_dec
 *   L   = FVU + λ·(1/B)·Σ_b Σ_i H(pre_bi − θ_i)
 *
 * H has no useful derivative; the straight-through pseudo-derivatives with the rectangle kernel
 * K(u) = 1[|u| < 1/2] and bandwidth ε are
 *   ∂z_i/∂θ_i := −(θ_i/ε)·K((pre_i − θ_i)/ε),   ∂H(pre_i − θ_i)/∂θ_i := −(1/ε)·K((pre_i − θ_i)/ε),
 * and nothing flows to pre through H (z_i = pre_i where active, so ∂z_i/∂pre_i = 1 there).
 * So ∂L/∂θ_i = −(1/ε)·Σ_{b: |pre_bi − θ_i| < ε/2} (θ_i·∂L/∂z_bi + λ/B): a kernel density estimate
 * from the few entries that fall in the window.
 *
 * Persistent KDE (kdeDecay > 0): the two per-latent window sums, A_i = Σ ∂L/∂z_bi and the
 * count C_i, are kept as exponential moving averages across steps (bias-corrected as Adam's
 * moments) and the θ-gradient uses them: −(θ_i·Ā_i + λ·C̄_i/B)/ε. docs/design.md §4.2.
 */
import { z } from 'zod';
import type { Backend, SparseRows } from '../../compute/backend.js';
import type { SaeParams } from '../common.js';
import { type Bf16Encoder, encodeStoredThreshold, encoderBackward, thresholdForward, widths, zerosLike } from '../primitives.js';
import { centredForm, LambdaSchedule, penaltyInit, penaltyOptions } from './penalty.js';
import type { Architecture } from './types.js';

export interface JumpReluOptions {
  /** sparsity coefficient λ (already warmed up by the caller) */
  lambda: number;
  /** kernel bandwidth ε */
  eps: number;
  /** 0: the per-batch estimator; in (0, 1): decay of the persistent kernel sums */
  kdeDecay: number;
  /** encode x − b_dec (true) or x (false; a transcoder never centres) */
  centre?: boolean;
}

/** Per-latent kernel sums kept across steps (the persistent-KDE state; float32, so a
 *  checkpoint holds it exactly). */
export class KdeState {
  readonly a: Float32Array;
  readonly c: Float32Array;
  steps = 0;
  constructor(n: number) {
    this.a = new Float32Array(n);
    this.c = new Float32Array(n);
  }
}

export interface JumpReluResult {
  loss: number;
  fvu: number;
  l0: number;
  z: SparseRows;
  /** entries inside the kernel window this batch */
  windowEntries: number;
}

/** The entries of pre [B, θ.length] (b_enc added) in the kernel window |pre − θ| < ε/2, their
 *  latents offset by `first`: a superset from the threshold kernel at θ − ε/2, then trimmed. */
export function kernelWindow(be: Backend, pre: Float32Array, B: number, theta: Float32Array, eps: number, first = 0): SparseRows {
  const near = be.threshold(pre, B, theta.length, theta.map((t) => t - eps / 2));
  const rowPtr = new Int32Array(B + 1), idx: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let e = near.rowPtr[b]!; e < near.rowPtr[b + 1]!; e++) if (near.vals[e]! < theta[near.idx[e]!]! + eps / 2) idx.push(near.idx[e]! + first);
    rowPtr[b + 1] = idx.length;
  }
  return { rows: B, rowPtr, idx: Int32Array.from(idx), vals: new Float32Array(idx.length) };
}

/** Adds a window's sums to A_i += Σ ∂L/∂z_bi (∂L/∂x̂ = grad [B, dOut] through W_dec's rows) and
 *  C_i += #entries. */
export function windowSums(be: Backend, window: SparseRows, grad: Float32Array, W_dec: Float32Array, dOut: number, A: Float64Array, C: Float64Array): void {
  const dz = be.sparseDot(window, grad, W_dec, dOut);
  for (let e = 0; e < window.idx.length; e++) { A[window.idx[e]!]! += dz[e]!; C[window.idx[e]!]!++; }
}

/** The straight-through threshold gradient from the window sums: −(θ_i·A_i + λ·C_i/B)/ε. */
export function thresholdGradient(theta: Float32Array, A: ArrayLike<number>, C: ArrayLike<number>, lambda: number, B: number, eps: number, out: Float32Array): void {
  for (let i = 0; i < theta.length; i++) out[i] = -(theta[i]! * A[i]! + (lambda * C[i]!) / B) / eps;
}

/** Forward, loss and (with grads) backward for x [B, d]; θ's gradient into grads.threshold. */
export function jumpreluForwardBackward(be: Backend, p: SaeParams, x: Float32Array, B: number, o: JumpReluOptions,
  grads: SaeParams | null, kde: KdeState | null = null, target?: Float32Array, bf16: Bf16Encoder | null = null): JumpReluResult {
  const { n, dOut } = widths(p), theta = p.threshold!;
  const uncentred = target !== undefined || o.centre === false;
  const { xc, pre, z, grad, fvu } = thresholdForward(be, p, x, B, theta, target, uncentred, bf16);
  const l0 = z.rowPtr[B]! / Math.max(B, 1);
  const result = { loss: fvu + o.lambda * l0, fvu, l0, z, windowEntries: 0 };
  if (!grads) return result;

  const window = kernelWindow(be, pre, B, theta, o.eps);
  result.windowEntries = window.idx.length;

  // decoder and the active latents (∂z/∂pre = 1 where active)
  be.sparseAccumulate(z, grad, dOut, grads.W_dec, true);
  encoderBackward(be, p, z, be.sparseDot(z, grad, p.W_dec, dOut), xc, grad, grads, uncentred);

  // θ: the window sums A_i = Σ ∂L/∂z_bi and C_i = #entries, per batch or persistent
  const A = new Float64Array(n), C = new Float64Array(n);
  windowSums(be, window, grad, p.W_dec, dOut, A, C);
  let a: ArrayLike<number> = A, c: ArrayLike<number> = C;
  if (kde && o.kdeDecay > 0) {
    const beta = o.kdeDecay;
    kde.steps++;
    const corr = 1 - beta ** kde.steps;
    for (let i = 0; i < n; i++) {
      kde.a[i] = beta * kde.a[i]! + (1 - beta) * A[i]!;
      kde.c[i] = beta * kde.c[i]! + (1 - beta) * C[i]!;
    }
    a = Float64Array.from(kde.a, (v) => v / corr);
    c = Float64Array.from(kde.c, (v) => v / corr);
  }
  thresholdGradient(theta, a, c, o.lambda, B, o.eps, grads.threshold!);
  return result;
}

/** The rectangle kernel's bandwidth option (JumpReLU SAEs and cross-layer transcoders). */
export const JUMP_EPS = z.number().positive().default(0.05).describe('JumpReLU: bandwidth of the rectangle kernel of the threshold pseudo-derivative');

const Options = z.object({
  ...penaltyOptions(0.003, 'L0 penalty'),
  jumpEps: JUMP_EPS,
  theta0: z.number().positive().default(0.01).describe('JumpReLU: initial threshold'),
  kdeDecay: z.number().min(0).max(0.9999).default(0).describe('JumpReLU: 0 = per-batch threshold gradient; in (0,1): persistent kernel sums with this decay'),
});
type Options = z.infer<typeof Options>;

export const jumprelu: Architecture<Options> = {
  name: 'jumprelu',
  summary: 'pre·H(pre − θ), θ trained directly; knob --lambda (L0 penalty) or --target-l0; --jump-eps, --theta0, --lambda-warmup, --kde-decay (persistent KDE)',
  options: Options,
  extraShapes: (_d, n) => ({ threshold: [n] }),
  extraInit: (_name, o) => o.theta0,
  unitNormDecoder: true,
  initScale: 'reconstruction',
  ...penaltyInit((params, q) => params.threshold!.set(q.map((v) => Math.max(v, 1e-6)))),
  objective({ be, n, dOut, options: o, params, bf16 }) {
    const transcoder = dOut !== undefined;
    const grads = zerosLike(params);
    const kde = new KdeState(n);
    const lambda = new LambdaSchedule(o, 0.005);
    let progressNow = 0;
    return {
      params, grads, unitRows: { W_dec: params.b_dec.length },
      step(x, rows, _dead, progress, target) {
        progressNow = progress;
        const lam = lambda.at(progress);
        const r = jumpreluForwardBackward(be, params, x, rows, { lambda: lam, eps: o.jumpEps, kdeDecay: o.kdeDecay, centre: o.centerInput }, grads, kde, target, bf16);
        return { loss: r.loss, fvu: r.fvu, l0: r.l0, auxLoss: 0, acts: r.z.vals, indices: r.z.idx, extra: { window_entries: r.windowEntries, lambda: lam } };
      },
      afterStep(res) {
        lambda.observe(res.l0, progressNow);
        // θ is parameterized directly and kept positive
        const t = params.threshold!;
        for (let i = 0; i < n; i++) if (!(t[i]! > 1e-6)) t[i] = 1e-6;
      },
      state: () => ({ json: { kde_steps: kde.steps, ...lambda.state() }, tensors: { 'kde.a': kde.a, 'kde.c': kde.c } }),
      restore(json, tensors) {
        lambda.restore(json);
        kde.steps = Number(json.kde_steps ?? 0);
        if (tensors['kde.a']) kde.a.set(tensors['kde.a']);
        if (tensors['kde.c']) kde.c.set(tensors['kde.c']);
      },
      saved: () => centredForm(params, o, transcoder),
    };
  },
  encode: encodeStoredThreshold,
  saeFields: () => ({ k: 0 }),
  saelens: { architecture: 'jumprelu', imports: true },
};
