/**
 * What the trainer optimizes, per architecture: the trained parameters, one forward+backward
 * step, what happens after the optimizer step, the state a checkpoint must keep besides Adam's,
 * and the SAE that gets saved. The trainer itself is architecture-agnostic.
 */
import type { Backend } from '../compute/backend.js';
import { paramEntries, type SaeConfig, type SaeParams } from '../sae/common.js';
import { jumpreluForwardBackward, KdeState } from '../sae/jumprelu.js';
import { reluForwardBackward } from '../sae/relu.js';
import { topkForwardBackward, TopKWorkspace, type TopKLossOptions } from '../sae/topk.js';
import { vaeForwardBackward } from '../sae/vae.js';
import { Rng } from '../util/rng.js';
import type { TrainConfig } from './config.js';

export interface StepOutcome {
  loss: number;
  fvu: number;
  l0: number;
  auxLoss: number;
  /** the kept entries (flat) and their latents (−1 = empty), for the firing statistics */
  acts: Float32Array;
  indices: Int32Array;
  /** architecture-specific numbers for metrics.jsonl */
  extra: Record<string, number>;
}

export interface Objective {
  /** the parameters Adam trains (and their gradients, same names) */
  readonly params: SaeParams;
  readonly grads: SaeParams;
  /** matrices kept at unit row norm: name → row width */
  readonly unitRows: Record<string, number>;
  /** forward + backward on x [rows, d] (and a transcoder's targets [rows, dOut]); progress =
   *  fraction of the run done (for warm-ups) */
  step(x: Float32Array, rows: number, dead: Uint8Array, progress: number, target?: Float32Array): StepOutcome;
  /** after the optimizer step (clamps, running statistics) */
  afterStep(res: StepOutcome): void;
  /** non-Adam state for checkpoints */
  state(): { json: Record<string, unknown>; tensors: Record<string, Float32Array> };
  restore(json: Record<string, unknown>, tensors: Record<string, Float32Array>): void;
  /** the parameters of the saved SAE and its architecture fields */
  saved(): { params: SaeParams; cfg: Pick<SaeConfig, 'arch' | 'k' | 'prefixes'> };
}

/** Default sparsity coefficients (with the FVU-normalized reconstruction loss). */
export const DEFAULT_LAMBDA = { jumprelu: 0.003, relu: 0.01 } as const;

const warm = (progress: number, frac: number): number => (frac > 0 ? Math.min(1, progress / frac) : 1);

function zerosLike(p: SaeParams): SaeParams {
  return Object.fromEntries(Object.entries(p).map(([k, t]) => [k, new Float32Array((t as Float32Array).length)])) as unknown as SaeParams;
}

/** The extra tensors an architecture needs on top of the common init. */
export function initExtras(cfg: TrainConfig, base: SaeParams, d: number, n: number, dOut?: number): SaeParams {
  const out = { ...base };
  for (const [name, shape] of paramEntries({ d, n, arch: cfg.arch, dOut })) {
    if (out[name]) continue;
    const size = shape.reduce((a, v) => a * v, 1);
    // θ₀ for JumpReLU; BatchTopK's θ starts at 0 and is a running statistic; the VAE starts with σ = e^-2
    out[name] = new Float32Array(size).fill(name === 'threshold' ? (cfg.arch === 'jumprelu' ? cfg.theta0 : 0) : name === 'b_logvar' ? -4 : 0);
  }
  return out;
}

/** dOut: a transcoder's output width (undefined for an SAE). */
export function makeObjective(be: Backend, cfg: TrainConfig, d: number, n: number, kAux: number, B: number, all: SaeParams, dOut?: number): Objective {
  const arch = cfg.arch;
  const transcoder = dOut !== undefined, out = dOut ?? d;
  const none = { json: {}, tensors: {} };
  switch (arch) {
    case 'topk': case 'batchtopk': case 'matryoshka': {
      const batch = arch !== 'topk';
      const prefixes = arch === 'matryoshka' ? [...(cfg.prefixes ?? defaultPrefixes(n))] : undefined;
      if (prefixes && prefixes[prefixes.length - 1] !== n) prefixes.push(n);
      const opts: TopKLossOptions = { k: cfg.k, multiTopK: cfg.multiTopK && !batch, kAux, auxAlpha: cfg.auxAlpha, selection: batch ? 'batch' : 'row', prefixes, transcoder };
      const ws = new TopKWorkspace(B, n, d, opts, out);
      // BatchTopK's inference threshold is a running statistic, not an Adam parameter
      const { threshold, ...params } = all;
      const theta = { value: threshold?.[0] ?? 0, ema: 0, batches: 0 };
      const grads = zerosLike(params);
      return {
        params, grads, unitRows: { W_dec: out },
        step(x, rows, dead, _progress, target) {
          const r = topkForwardBackward(be, params, x, rows, opts, ws, dead, grads, target);
          const extra: Record<string, number> = {};
          if (opts.multiTopK) extra.fvu_4k = r.fvuMulti;
          if (batch) extra.min_kept = r.minKept;
          return { loss: r.loss, fvu: r.fvu, l0: r.l0, auxLoss: r.auxLoss, acts: r.acts, indices: r.indices, extra };
        },
        afterStep(res) {
          // θ = running mean of the batch's smallest kept activation, exponentially weighted
          // (decay 0.99, bias-corrected) so that it follows the trained encoder, as
          // dictionary_learning's BatchTopK trainer keeps it
          const m = res.extra.min_kept;
          if (!batch || m === undefined || !Number.isFinite(m)) return;
          theta.batches++;
          theta.ema = 0.99 * theta.ema + 0.01 * m;
          theta.value = theta.ema / (1 - 0.99 ** theta.batches);
        },
        state: () => (batch ? { json: { theta: theta.value, theta_ema: theta.ema, theta_batches: theta.batches }, tensors: {} } : none),
        restore(json) {
          if (batch) { theta.value = Number(json.theta ?? 0); theta.ema = Number(json.theta_ema ?? 0); theta.batches = Number(json.theta_batches ?? 0); }
        },
        saved: () => ({
          params: batch ? { ...params, threshold: new Float32Array(n).fill(theta.value) } : params,
          cfg: { arch, k: cfg.k, ...(prefixes ? { prefixes } : {}) },
        }),
      };
    }
    case 'jumprelu': {
      const params = all, grads = zerosLike(params);
      const kde = new KdeState(n);
      const lambda = cfg.lambda ?? DEFAULT_LAMBDA.jumprelu;
      return {
        params, grads, unitRows: { W_dec: out },
        step(x, rows, _dead, progress, target) {
          const r = jumpreluForwardBackward(be, params, x, rows, { lambda: lambda * warm(progress, cfg.lambdaWarmup), eps: cfg.jumpEps, kdeDecay: cfg.kdeDecay }, grads, kde, target);
          return { loss: r.loss, fvu: r.fvu, l0: r.l0, auxLoss: 0, acts: r.z.vals, indices: r.z.idx, extra: { window_entries: r.windowEntries } };
        },
        afterStep() {
          // θ is parameterized directly and kept positive
          const t = params.threshold!;
          for (let i = 0; i < n; i++) if (!(t[i]! > 1e-6)) t[i] = 1e-6;
        },
        state: () => ({ json: { kde_steps: kde.steps }, tensors: { 'kde.a': kde.a, 'kde.c': kde.c } }),
        restore(json, tensors) {
          kde.steps = Number(json.kde_steps ?? 0);
          if (tensors['kde.a']) kde.a.set(tensors['kde.a']);
          if (tensors['kde.c']) kde.c.set(tensors['kde.c']);
        },
        saved: () => ({ params, cfg: { arch, k: 0 } }),
      };
    }
    case 'relu': {
      const params = all, grads = zerosLike(params);
      const lambda = cfg.lambda ?? DEFAULT_LAMBDA.relu;
      return {
        params, grads, unitRows: {},
        step(x, rows, _dead, progress, target) {
          const r = reluForwardBackward(be, params, x, rows, lambda * warm(progress, cfg.lambdaWarmup), grads, target);
          return { loss: r.loss, fvu: r.fvu, l0: r.l0, auxLoss: 0, acts: r.z.vals, indices: r.z.idx, extra: { l1: r.l1 } };
        },
        afterStep() {},
        state: () => none,
        restore() {},
        saved: () => ({ params, cfg: { arch, k: 0 } }),
      };
    }
    case 'vae': {
      const params = all, grads = zerosLike(params);
      let rng = new Rng(cfg.seed + 7919);
      // the code is dense: every latent "fires" on every row
      const allIdx = Int32Array.from({ length: n }, (_, i) => i), allOnes = new Float32Array(n).fill(1);
      return {
        params, grads, unitRows: {},
        step(x, rows, _dead, _progress, target) {
          const r = vaeForwardBackward(be, params, x, rows, cfg.vaeNoise, rng, grads, undefined, target);
          return { loss: r.loss, fvu: r.fvu, l0: n, auxLoss: 0, acts: allOnes, indices: allIdx, extra: { kl: r.kl, recon_term: r.recon } };
        },
        afterStep() {},
        state: () => ({ json: { rng: Array.from(rng.state) }, tensors: {} }),
        restore(json) {
          if (Array.isArray(json.rng)) rng = new Rng(Uint32Array.from(json.rng as number[]));
        },
        saved: () => ({ params, cfg: { arch, k: 0 } }),
      };
    }
    default:
      throw new Error(`unknown architecture ${String(arch satisfies never)}`);
  }
}

/** Matryoshka's default nested sizes: n/16, n/4, n (as few as make sense). */
export function defaultPrefixes(n: number): number[] {
  return [...new Set([Math.max(1, Math.floor(n / 16)), Math.max(1, Math.floor(n / 4)), n])];
}
