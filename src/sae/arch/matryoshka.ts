/**
 * Matryoshka (Bussmann et al. 2025; Nabeshima): BatchTopK activations, and the loss is the
 * mean over nested prefixes m_1 < … < m_J = n of the FVU of z[:m_j]·W_dec[:m_j] + b_dec, so
 * the first latents must reconstruct on their own. docs/design.md §4.4.
 */
import { z } from 'zod';
import { encodeStoredThreshold } from '../primitives.js';
import { checkK, K_SPARSE_OPTIONS, kSparseObjective, resolveKAux, type KSparseOptions } from './kfamily.js';
import type { Architecture } from './types.js';

type Options = KSparseOptions & { prefixes?: number[] };

/** The nested sizes: the given ones (n appended when missing), else n/16, n/4, n. */
export function prefixesFor(o: { prefixes?: number[] }, n: number): number[] {
  const p = o.prefixes ? [...o.prefixes] : [Math.max(1, Math.floor(n / 16)), Math.max(1, Math.floor(n / 4)), n];
  if (p[p.length - 1] !== n) p.push(n);
  return [...new Set(p)];
}

export const matryoshka: Architecture<Options> = {
  name: 'matryoshka',
  summary: 'BatchTopK with the loss averaged over nested prefixes; knobs --k, --prefixes 64,256 (default n/16, n/4, n); inference as BatchTopK',
  options: z.object({
    ...K_SPARSE_OPTIONS,
    prefixes: z.array(z.number().int().positive()).optional().describe('Matryoshka: nested dictionary sizes, comma-separated (default n/16, n/4, n)'),
  }),
  check(o, s) {
    const bad = checkK(o, s);
    if (bad) return bad;
    if (o.prefixes && !o.prefixes.every((m, i) => m <= s.latents && (i === 0 || m > o.prefixes![i - 1]!))) {
      return { field: 'prefixes', message: `prefixes must be ascending sizes, each <= latents (${s.latents}), got ${o.prefixes.join(',')}` };
    }
    return null;
  },
  resolve: (o, dims) => ({ k_aux: resolveKAux(o, dims) }),
  extraShapes: (_d, n) => ({ threshold: [n] }),
  extraInit: () => 0,
  unitNormDecoder: true,
  initScale: 'linear',
  objective: (ctx) => kSparseObjective(ctx, { batch: true, prefixes: prefixesFor(ctx.options, ctx.n) }),
  encode: encodeStoredThreshold,
  saeFields: (o, n) => ({ k: o.k, prefixes: prefixesFor(o, n) }),
  saelens: { architecture: 'jumprelu', imports: false },
};
