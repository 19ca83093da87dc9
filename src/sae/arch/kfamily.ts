/**
 * What the three k-sparse architectures (TopK, BatchTopK, Matryoshka) share as architectures:
 * their option fields, their objective around the k-sparse maths of ../ksparse.ts, and
 * inference. Each architecture file picks its selection and loss terms.
 */
import { z } from 'zod';
import { fixedK, type Backend, type Precision } from '../../compute/backend.js';
import type { Sae, SaeParams } from '../common.js';
import { topkForwardBackward, TopKWorkspace, type TopKLossOptions } from '../ksparse.js';
import { addSkipPath, centre, encoderOperands, inferenceEncoder, widths, zerosLike } from '../primitives.js';
import type { Encoded, Objective, ObjectiveContext } from './types.js';

/** Option fields of every k-sparse architecture. */
export const K_SPARSE_OPTIONS = {
  k: z.number().int().positive().default(32).describe('active latents per token (TopK), mean per token (BatchTopK, Matryoshka)'),
  kAux: z.number().int().min(0).optional().describe('AuxK latents per token (default d/2; 0 disables AuxK)'),
  auxAlpha: z.number().min(0).default(1 / 32).describe('weight of the AuxK loss'),
};
export interface KSparseOptions {
  k: number;
  kAux?: number;
  auxAlpha: number;
}

export const checkK = (o: { k: number }, s: { latents: number }) => (o.k <= s.latents ? null : { field: 'k', message: `k must be <= latents (${s.latents}), got ${o.k}` });

/** AuxK latents per token: the option, else d/2, at most n. */
export const resolveKAux = (o: KSparseOptions, { d, n }: { d: number; n: number }): number => Math.min(n, o.kAux ?? Math.floor(d / 2));

/** The objective of a k-sparse architecture: row selection (TopK) or batch selection with a
 *  running inference threshold (BatchTopK, Matryoshka). */
export function kSparseObjective(ctx: ObjectiveContext<KSparseOptions>, o: { batch: boolean; multiTopK?: boolean; prefixes?: number[] }): Objective {
  const { be, d, n, dOut, options } = ctx;
  const opts: TopKLossOptions = {
    k: options.k, multiTopK: Boolean(o.multiTopK) && !o.batch, kAux: resolveKAux(options, { d, n: ctx.shard?.total ?? n }), auxAlpha: options.auxAlpha,
    selection: o.batch ? 'batch' : 'row', prefixes: o.prefixes, transcoder: dOut !== undefined, bf16: ctx.bf16, comm: ctx.comm, shard: ctx.shard,
  };
  const out = dOut ?? d;
  const ws = new TopKWorkspace(ctx.batch, n, d, opts, out);
  // BatchTopK's inference threshold is a running statistic, not an Adam parameter
  const { threshold, ...params } = ctx.params;
  const theta = new RunningThreshold(threshold?.[0] ?? 0);
  const grads = zerosLike(params);
  return {
    params, grads, unitRows: { W_dec: out },
    step(x, rows, dead, _progress, target) {
      const r = topkForwardBackward(be, params, x, rows, opts, ws, dead, grads, target);
      const extra: Record<string, number> = {};
      if (opts.multiTopK) extra.fvu_4k = r.fvuMulti;
      if (o.batch) extra.min_kept = r.minKept;
      return { loss: r.loss, fvu: r.fvu, l0: r.l0, auxLoss: r.auxLoss, acts: r.acts, indices: r.indices, extra };
    },
    afterStep(res) {
      if (o.batch) theta.observe(res.extra.min_kept);
    },
    state: () => (o.batch ? { json: { theta: theta.value, theta_ema: theta.ema, theta_batches: theta.batches }, tensors: {} } : { json: {}, tensors: {} }),
    restore(json) {
      if (!o.batch) return;
      theta.value = Number(json.theta ?? 0);
      theta.ema = Number(json.theta_ema ?? 0);
      theta.batches = Number(json.theta_batches ?? 0);
    },
    saved: (): SaeParams => (o.batch ? { ...params, threshold: new Float32Array(n).fill(theta.value) } : params),
  };
}

/** BatchTopK's inference threshold θ: the running mean of each batch's smallest kept activation,
 *  exponentially weighted (decay 0.99, bias-corrected) so that it follows the trained encoder, as
 *  dictionary_learning's BatchTopK trainer keeps it. */
export class RunningThreshold {
  value: number;
  ema = 0;
  batches = 0;
  constructor(value = 0) {
    this.value = value;
  }
  /** After a batch whose smallest kept activation was `m` (none: undefined or not finite). */
  observe(m: number | undefined): void {
    if (m === undefined || !Number.isFinite(m)) return;
    this.batches++;
    this.ema = 0.99 * this.ema + 0.01 * m;
    this.value = this.ema / (1 - 0.99 ** this.batches);
  }
}

/** Inference of a row-TopK code: z = ReLU(TopK_k(pre)); with `next`, each row's (k+1)-th
 *  pre-activation from the same selection (no second pass over the B×n matrix). */
export function encodeRowTopK(be: Backend, sae: Sae, x: Float32Array, B: number, kWant: number, next: boolean, precision?: Precision): Encoded {
  const p = sae.params, { n, d, dOut } = widths(p);
  const k = Math.min(kWant, n), kTop = next ? Math.min(k + 1, n) : k;
  // the encoder GEMM and the selection in one pass, as in training (be.encodeTopk)
  const xc = centre(p, x, B, d, sae.cfg.dOut !== undefined);
  const top = be.encodeTopk({ ...encoderOperands(be, p.W_enc, xc, B, d, inferenceEncoder(be, sae, precision)), bias: p.b_enc, m: B, n, d, k: kTop });
  const vals = new Float32Array(B * k), idx = new Int32Array(B * k);
  const nextVals = next && kTop > k ? new Float32Array(B) : undefined;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < k; t++) {
      const v = top.vals[b * kTop + t]!;
      vals[b * k + t] = v > 0 ? v : 0;
      idx[b * k + t] = top.idx[b * kTop + t]!;
    }
    if (nextVals) nextVals[b] = top.vals[b * kTop + k]!;
  }
  const z = fixedK(vals, idx, B, k);
  const recon = be.sparseDecode(z, p.W_dec, dOut, p.b_dec);
  // a skip transcoder's skip path x·W_skipᵀ (a transcoder's input is not centred)
  addSkipPath(be, p, x, B, recon);
  return { z, recon, ...(nextVals ? { next: nextVals } : {}) };
}
