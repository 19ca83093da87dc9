/**
 * Stitching dictionaries of several sizes (docs/design.md §4.9): insert the larger SAE's discovered
 * latents into the smaller one, and/or swap each split parent for its children, giving one
 * ordinary SAE (same k, b_dec of the smaller SAE). The insertion test checks the cheap
 * decoder-cosine proxy: adding a novel latent to the smaller SAE should lower its FVU, adding
 * a reconstruction (split or kept) latent should not.
 */
import type { Backend } from '../compute/backend.js';
import type { MemorySource } from '../data/memory.js';
import { evaluateSae } from '../eval/metrics.js';
import type { Sae } from '../sae/common.js';
import type { LatentClass, ScaleMatch } from './matching.js';

export type StitchMode = 'add-discovered' | 'swap-splits' | 'both';

/** An SAE made of the given latents of `small` followed by the given latents of `large`. */
export function combine(small: Sae, keepSmall: number[], large: Sae, addLarge: number[], data: string): Sae {
  const d = small.cfg.d, n = keepSmall.length + addLarge.length;
  const W_enc = new Float32Array(n * d), W_dec = new Float32Array(n * d), b_enc = new Float32Array(n);
  const put = (sae: Sae, i: number, at: number) => {
    W_enc.set(sae.params.W_enc.subarray(i * d, (i + 1) * d), at * d);
    W_dec.set(sae.params.W_dec.subarray(i * d, (i + 1) * d), at * d);
    b_enc[at] = sae.params.b_enc[i]!;
  };
  keepSmall.forEach((i, t) => put(small, i, t));
  addLarge.forEach((j, t) => put(large, j, keepSmall.length + t));
  return {
    cfg: { format: 'saekit-sae', arch: 'topk', d, n, k: Math.min(small.cfg.k, n), multiTopK: false, data },
    params: { W_enc, b_enc, W_dec, b_dec: Float32Array.from(small.params.b_dec) },
  };
}

export function stitch(small: Sae, large: Sae, m: ScaleMatch, mode: StitchMode): Sae {
  const swap = mode !== 'add-discovered', add = mode !== 'swap-splits';
  const splitParents = new Set<number>();
  if (swap) m.cls.forEach((c, j) => { if (c === 'split') splitParents.add(m.parent[j]!); });
  const keepSmall = Array.from({ length: small.cfg.n }, (_, i) => i).filter((i) => !splitParents.has(i));
  const addLarge = m.cls.flatMap((c, j) => ((add && c === 'discovered') || (swap && c === 'split') ? [j] : []));
  return combine(small, keepSmall, large, addLarge, `stitched (${mode}) from ${small.cfg.n} + ${large.cfg.n} latents`);
}

export interface InsertionResult {
  baseFvu: number;
  /** per class: how many latents were tried, mean ΔFVU, and the fraction that lowered FVU */
  byClass: Record<LatentClass, { tried: number; meanDelta: number; lowered: number }>;
}

/** Inserts up to `perClass` latents of each class into the small SAE, one at a time. */
export function insertionTest(be: Backend, small: Sae, large: Sae, m: ScaleMatch, data: MemorySource, perClass = 40): InsertionResult {
  const all = Array.from({ length: small.cfg.n }, (_, i) => i);
  const baseFvu = evaluateSae(be, small, data.rewind(), data.length).fvu;
  const byClass = {} as InsertionResult['byClass'];
  for (const c of ['discovered', 'split', 'kept'] as const) {
    const members = m.cls.flatMap((x, j) => (x === c ? [j] : []));
    // an even spread over the class, deterministic
    const step = Math.max(1, Math.floor(members.length / perClass));
    const tried = members.filter((_, t) => t % step === 0).slice(0, perClass);
    let sum = 0, lowered = 0;
    for (const j of tried) {
      const delta = evaluateSae(be, combine(small, all, large, [j], 'insertion'), data.rewind(), data.length).fvu - baseFvu;
      sum += delta;
      if (delta < 0) lowered++;
    }
    byClass[c] = { tried: tried.length, meanDelta: tried.length ? sum / tried.length : NaN, lowered: tried.length ? lowered / tried.length : NaN };
  }
  return { baseFvu, byClass };
}
