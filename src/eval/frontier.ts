/**
 * The MSE–L0 frontier (docs/design.md §4.8): the Pareto set of (L0, FVU) points, and comparisons of
 * groups by "FVU at matched L0" — log–log interpolation along each group's frontier, only
 * inside the L0 range both frontiers cover. Never compare runs by MSE or L0 alone.
 */

export interface FrontierPoint {
  label: string;
  group: string;
  l0: number;
  fvu: number;
}

/** b dominates a: no worse in both coordinates and better in one. */
export function dominates(b: FrontierPoint, a: FrontierPoint): boolean {
  return b.l0 <= a.l0 && b.fvu <= a.fvu && (b.l0 < a.l0 || b.fvu < a.fvu);
}

/** The non-dominated points, sorted by L0 (then FVU descends along it). */
export function paretoFrontier(points: FrontierPoint[]): FrontierPoint[] {
  const valid = points.filter((p) => p.l0 > 0 && p.fvu > 0 && Number.isFinite(p.l0) && Number.isFinite(p.fvu));
  const sorted = [...valid].sort((a, b) => a.l0 - b.l0 || a.fvu - b.fvu);
  const out: FrontierPoint[] = [];
  let best = Infinity;
  for (const p of sorted) {
    if (p.fvu < best) {
      // equal L0 with lower FVU came first, so a later equal-L0 point never enters
      out.push(p);
      best = p.fvu;
    }
  }
  return out;
}

/** FVU on the frontier at this L0 by log–log interpolation; NaN outside its L0 range. */
export function fvuAt(frontier: FrontierPoint[], l0: number): number {
  if (!frontier.length) return NaN;
  const first = frontier[0]!, last = frontier[frontier.length - 1]!;
  if (l0 < first.l0 || l0 > last.l0) return NaN;
  for (let i = 0; i < frontier.length; i++) {
    const p = frontier[i]!;
    if (p.l0 === l0) return p.fvu;
    const q = frontier[i + 1];
    if (q && l0 < q.l0) {
      const t = (Math.log(l0) - Math.log(p.l0)) / (Math.log(q.l0) - Math.log(p.l0));
      return Math.exp(Math.log(p.fvu) + t * (Math.log(q.fvu) - Math.log(p.fvu)));
    }
  }
  return NaN;
}

/** FVU at matched L0 = k on the frontier of these points. Where the frontier ends below k
 *  (its points at larger L0 reconstruct worse, so they are dominated) an SAE at L0 < k already
 *  reaches the frontier's last FVU, which is then the value at L0 = k, marked as such; NaN where
 *  the frontier starts above k. */
export function matchedFvu(points: FrontierPoint[], k: number): { fvu: number; ended: boolean } {
  const frontier = paretoFrontier(points);
  const f = fvuAt(frontier, k);
  if (Number.isFinite(f)) return { fvu: f, ended: false };
  const last = frontier.at(-1);
  return last && last.l0 < k ? { fvu: last.fvu, ended: true } : { fvu: NaN, ended: false };
}

export interface MatchedComparison {
  a: string;
  b: string;
  /** the L0 range both frontiers cover, or null when they do not overlap */
  range: [number, number] | null;
  /** FVU_a / FVU_b at log-spaced matched L0s inside the range */
  samples: { l0: number; fvuA: number; fvuB: number; ratio: number }[];
  /** geometric mean of the ratios: < 1 means a reconstructs better at matched L0 */
  geoMeanRatio: number;
}

export function compareAtMatchedL0(a: string, fa: FrontierPoint[], b: string, fb: FrontierPoint[], steps = 9): MatchedComparison {
  if (!fa.length || !fb.length) return { a, b, range: null, samples: [], geoMeanRatio: NaN };
  const lo = Math.max(fa[0]!.l0, fb[0]!.l0), hi = Math.min(fa[fa.length - 1]!.l0, fb[fb.length - 1]!.l0);
  if (lo > hi) return { a, b, range: null, samples: [], geoMeanRatio: NaN };
  const count = lo === hi ? 1 : steps;
  const samples = Array.from({ length: count }, (_, i) => {
    // the ends exactly, so rounding in exp/log never leaves the shared range
    const l0 = i === 0 ? lo : i === count - 1 ? hi : Math.exp(Math.log(lo) + ((Math.log(hi) - Math.log(lo)) * i) / (count - 1));
    const fvuA = fvuAt(fa, l0), fvuB = fvuAt(fb, l0);
    return { l0, fvuA, fvuB, ratio: fvuA / fvuB };
  });
  const geoMeanRatio = Math.exp(samples.reduce((s, x) => s + Math.log(x.ratio), 0) / samples.length);
  return { a, b, range: [lo, hi], samples, geoMeanRatio };
}

/** Points grouped, each group's frontier, and which points are dominated (within all points). */
export function frontiersByGroup(points: FrontierPoint[]): { groups: Map<string, FrontierPoint[]>; dominated: Set<FrontierPoint> } {
  const groups = new Map<string, FrontierPoint[]>();
  for (const g of new Set(points.map((p) => p.group))) groups.set(g, paretoFrontier(points.filter((p) => p.group === g)));
  const dominated = new Set(points.filter((p) => points.some((q) => q !== p && dominates(q, p))));
  return { groups, dominated };
}
