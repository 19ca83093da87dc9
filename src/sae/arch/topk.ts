/**
 * TopK (Gao et al. 2024, "Scaling and evaluating sparse autoencoders"):
 *   pre = (x − b_dec)·W_encᵀ + b_enc     z = ReLU(TopK_k(pre))     x̂ = z·W_dec + b_dec
 *   L = FVU (+ L(4k)/8 with Multi-TopK) + α·L_aux (AuxK over dead latents).
 * The maths is in ../ksparse.ts; docs/design.md §4.1.
 */
import { z } from 'zod';
import { checkK, encodeRowTopK, K_SPARSE_OPTIONS, kSparseObjective, resolveKAux, type KSparseOptions } from './kfamily.js';
import type { Architecture } from './types.js';

const Options = z.object({
  ...K_SPARSE_OPTIONS,
  multiTopK: z.boolean().default(false).describe('TopK: Multi-TopK loss L(k) + L(4k)/8'),
  skip: z.boolean().default(false).describe('TopK transcoders: a skip transcoder, an affine skip path x·W_skipᵀ (W_skip [d_out, d], from zero) added to the output (Paulo et al. 2025)'),
});
type Options = KSparseOptions & { multiTopK: boolean; skip: boolean };

export const topk: Architecture<Options> = {
  name: 'topk',
  summary: 'ReLU of each row\'s top k; knob --k; AuxK (--k-aux, --aux-alpha), --multi-top-k',
  options: Options,
  check: checkK,
  resolve: (o, dims) => ({ k_aux: resolveKAux(o, dims) }),
  extraShapes: () => ({}),
  extraInit: () => 0,
  unitNormDecoder: true,
  initScale: 'linear',
  dataParallel: true,
  latentParallel: true,
  objective: (ctx) => kSparseObjective(ctx, { batch: false, multiTopK: ctx.options.multiTopK }),
  encode: (be, sae, x, B, o = {}) => encodeRowTopK(be, sae, x, B, o.k ?? sae.cfg.k, Boolean(o.next), o.precision),
  saeFields: (o) => ({ k: o.k, multiTopK: o.multiTopK, ...(o.skip ? { skip: true } : {}) }),
  saelens: { architecture: 'topk', imports: true },
  sparsify: true,
};
