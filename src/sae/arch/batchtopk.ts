/**
 * BatchTopK (Bussmann et al. 2024): the top B·k pre-activations of the whole batch are kept
 * (per-token L0 varies, its mean is k). Inference uses one threshold θ, the running mean of
 * the smallest kept activation over training batches. docs/design.md §4.3.
 */
import { z } from 'zod';
import { encodeStoredThreshold } from '../primitives.js';
import { checkK, K_SPARSE_OPTIONS, kSparseObjective, resolveKAux, type KSparseOptions } from './kfamily.js';
import type { Architecture } from './types.js';

export const batchtopk: Architecture<KSparseOptions> = {
  name: 'batchtopk',
  summary: 'top B·k of the whole batch; knob --k (mean per token); inference: one threshold, the running mean of the smallest kept activation',
  options: z.object(K_SPARSE_OPTIONS),
  check: checkK,
  resolve: (o, dims) => ({ k_aux: resolveKAux(o, dims) }),
  extraShapes: (_d, n) => ({ threshold: [n] }),
  extraInit: () => 0,
  unitNormDecoder: true,
  initScale: 'linear',
  objective: (ctx) => kSparseObjective(ctx, { batch: true }),
  encode: encodeStoredThreshold,
  saeFields: (o) => ({ k: o.k }),
  // SAELens saves its own BatchTopK SAEs as JumpReLU ones (a threshold per latent)
  saelens: { architecture: 'jumprelu', imports: false },
};
