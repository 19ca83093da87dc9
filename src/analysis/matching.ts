/**
 * Feature splitting vs discovery across dictionary sizes (docs/design.md §4.9; Leask, Bussmann et al.
 * 2024). Each latent of the larger SAE is matched to the smaller SAE by decoder cosine (and,
 * given data, by activation correlation) and classified:
 *   discovered — its best decoder cosine to the smaller SAE is below `novel` (nothing matches);
 *   split      — its best match (the parent) has >= 2 larger-SAE latents matching it above `novel`;
 *   kept       — it matches a parent that has no other child.
 */
import type { Backend, SparseRows } from '../compute/backend.js';
import type { ActivationSource, GroundTruth } from '../data/source.js';
import type { Sae } from '../sae/common.js';
import { encode } from '../sae/encode.js';
import { decoderWidth, topCosine } from '../sae/geometry.js';

export type LatentClass = 'split' | 'discovered' | 'kept';

export interface ScaleMatch {
  /** per larger-SAE latent: best smaller-SAE latent by decoder cosine and that cosine */
  parent: Int32Array;
  cos: Float32Array;
  cls: LatentClass[];
  fractions: Record<LatentClass, number>;
  /** per larger-SAE latent: best smaller-SAE latent by activation correlation, when data was given */
  corrParent?: Int32Array;
  corr?: Float32Array;
}

/** For each row of a [na, w], the row of b [nb, w] with the largest cosine. */
function bestCosine(be: Backend, a: Float32Array, na: number, b: Float32Array, nb: number, w: number): { idx: Int32Array; cos: Float32Array } {
  const m = topCosine(be, a, na, b, nb, w, 1);
  return { idx: m.idx, cos: m.vals };
}

export function matchScales(be: Backend, small: Sae, large: Sae, novel = 0.6): ScaleMatch {
  const w = decoderWidth(small);
  if (large.cfg.d !== small.cfg.d || decoderWidth(large) !== w) throw new Error(`the SAEs have different widths (d=${small.cfg.d}→${w} and d=${large.cfg.d}→${decoderWidth(large)})`);
  const { idx: parent, cos } = bestCosine(be, large.params.W_dec, large.cfg.n, small.params.W_dec, small.cfg.n, w);
  const children = new Int32Array(small.cfg.n);
  for (let j = 0; j < large.cfg.n; j++) if (cos[j]! >= novel) children[parent[j]!]!++;
  const cls: LatentClass[] = Array.from(parent, (p, j) => (cos[j]! < novel ? 'discovered' : children[p]! >= 2 ? 'split' : 'kept'));
  const fractions = { split: 0, discovered: 0, kept: 0 };
  for (const c of cls) fractions[c] += 1 / cls.length;
  return { parent, cos, cls, fractions };
}

/**
 * Pearson correlation of each larger-SAE latent's activation with every smaller-SAE latent's
 * over `tokens` rows; returns the best-correlated smaller latent. Only co-active pairs are
 * accumulated (activations are sparse), so the cost is tokens·L0_small·L0_large; any
 * architecture's codes serve (each SAE encodes with its own).
 */
export function activationCorrelation(be: Backend, small: Sae, large: Sae, source: ActivationSource, tokens: number, batch = 2048): { idx: Int32Array; corr: Float32Array } {
  const d = small.cfg.d, ns = small.cfg.n, nl = large.cfg.n;
  const B = Math.min(batch, tokens);
  const x = new Float32Array(B * d);
  const sS = new Float64Array(ns), qS = new Float64Array(ns), sL = new Float64Array(nl), qL = new Float64Array(nl);
  const cross = new Map<number, number>();
  const moments = (z: SparseRows, b: number, s: Float64Array, q: Float64Array): void => {
    for (let e = z.rowPtr[b]!; e < z.rowPtr[b + 1]!; e++) if (z.vals[e]! > 0 && z.idx[e]! >= 0) { s[z.idx[e]!]! += z.vals[e]!; q[z.idx[e]!]! += z.vals[e]! ** 2; }
  };
  let seen = 0;
  while (seen < tokens) {
    const rows = source.read(x, Math.min(B, tokens - seen));
    if (rows === 0) break;
    const zs = encode(be, small, x, rows).z, zl = encode(be, large, x, rows).z;
    for (let b = 0; b < rows; b++) {
      moments(zs, b, sS, qS);
      moments(zl, b, sL, qL);
      for (let e = zs.rowPtr[b]!; e < zs.rowPtr[b + 1]!; e++) {
        const v = zs.vals[e]!, i = zs.idx[e]!;
        if (!(v > 0) || i < 0) continue;
        for (let u = zl.rowPtr[b]!; u < zl.rowPtr[b + 1]!; u++) {
          const w = zl.vals[u]!;
          if (w > 0 && zl.idx[u]! >= 0) {
            const key = i * nl + zl.idx[u]!;
            cross.set(key, (cross.get(key) ?? 0) + v * w);
          }
        }
      }
    }
    seen += rows;
  }
  const idx = new Int32Array(nl).fill(-1), corr = new Float32Array(nl).fill(0);
  const sd = (s: number, q: number): number => Math.sqrt(Math.max(q / seen - (s / seen) ** 2, 0));
  for (const [key, sum] of cross) {
    const i = Math.floor(key / nl), j = key % nl;
    const den = sd(sS[i]!, qS[i]!) * sd(sL[j]!, qL[j]!);
    if (den === 0) continue;
    const r = (sum / seen - (sS[i]! / seen) * (sL[j]! / seen)) / den;
    if (r > corr[j]!) { corr[j] = r; idx[j] = i; }
  }
  return { idx, corr };
}

export interface TruthScore {
  /** ground-truth class of each larger latent (null: it matches no true feature) */
  truth: (LatentClass | null)[];
  precision: Record<'split' | 'discovered', number>;
  recall: Record<'split' | 'discovered', number>;
  counts: Record<LatentClass, number>;
}

/**
 * Scores a classification against a hierarchical synthetic source. A larger latent's true
 * class comes from which true child it matches (cos >= match) and whether the smaller SAE
 * covers that child's parent (some small latent matches the parent or one of its children):
 * not covered → discovered; covered and >= 2 larger latents on distinct children of the
 * parent → split; otherwise kept.
 */
export function scoreAgainstTruth(be: Backend, small: Sae, large: Sae, truth: GroundTruth, cls: LatentClass[], match = 0.8): TruthScore {
  const d = decoderWidth(small);
  if (!truth.parentOf || !truth.parents) throw new Error('scoring splits needs a hierarchical synthetic source (children > 1)');
  const parentOf = truth.parentOf;
  const nParents = truth.parents.length / d;
  const L = bestCosine(be, large.params.W_dec, large.cfg.n, truth.features, truth.m, d);
  // a small SAE covers a parent when one of its latents matches the parent or any of its children
  const covered = new Uint8Array(nParents);
  const toKids = bestCosine(be, small.params.W_dec, small.cfg.n, truth.features, truth.m, d);
  const toParents = bestCosine(be, small.params.W_dec, small.cfg.n, truth.parents, nParents, d);
  for (let i = 0; i < small.cfg.n; i++) {
    if (toKids.cos[i]! >= match) covered[parentOf[toKids.idx[i]!]!] = 1;
    if (toParents.cos[i]! >= match) covered[toParents.idx[i]!] = 1;
  }
  const kidsHit = new Map<number, Set<number>>();
  for (let j = 0; j < large.cfg.n; j++) {
    if (L.cos[j]! < match) continue;
    const p = parentOf[L.idx[j]!]!;
    if (!kidsHit.has(p)) kidsHit.set(p, new Set());
    kidsHit.get(p)!.add(L.idx[j]!);
  }
  const truthCls = Array.from({ length: large.cfg.n }, (_, j): LatentClass | null => {
    if (L.cos[j]! < match) return null;
    const p = parentOf[L.idx[j]!]!;
    if (!covered[p]) return 'discovered';
    return kidsHit.get(p)!.size >= 2 ? 'split' : 'kept';
  });
  const pr = (c: 'split' | 'discovered') => {
    let tp = 0, predicted = 0, actual = 0;
    truthCls.forEach((t, j) => {
      if (t === null) return;
      if (cls[j] === c) predicted++;
      if (t === c) actual++;
      if (t === c && cls[j] === c) tp++;
    });
    return { p: predicted ? tp / predicted : NaN, r: actual ? tp / actual : NaN };
  };
  const s = pr('split'), dsc = pr('discovered');
  const counts = { split: 0, discovered: 0, kept: 0 };
  for (const t of truthCls) if (t) counts[t]++;
  return { truth: truthCls, precision: { split: s.p, discovered: dsc.p }, recall: { split: s.r, discovered: dsc.r }, counts };
}
