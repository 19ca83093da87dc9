/**
 * Groups of latents that jointly represent a low-dimensional subspace, and whether what they
 * represent is irreducible (Engels et al. 2024, "Not All Language Model Features Are Linear").
 *
 * Groups (docs/design.md §4.10): candidate planes from pairs of latents that co-fire above chance
 * (lift P(i,j)/(P(i)P(j)) > `minLift`), the plane their decoder rows span; a plane's group is
 * every firing latent with at least `minPlane` of its unit decoder's squared norm inside it.
 * Per group, on the rows where any of its latents fires, the group's own reconstruction
 * r = Σ_{i∈G} a_i·W_dec[i] is projected on its top principal components, standardized, and
 * scored as Engels et al. define irreducibility, on a grid:
 *   mixture index M = max over directions v and offsets c of the share of points with
 *     |v·p − c| < ε (ε = 0.1): near 1 when the points lie on a line (a mixture of 1-D
 *     features), low for a circle;
 *   separability index S = min over rotations of the mutual information (nats, 16×16 bins)
 *     between the two coordinates: near 0 when the plane splits into independent 1-D parts,
 *     high for a circle.
 * A group is irreducible when its points fill a plane (≥ 90% of the variance in two components,
 * or three, the second ≥ 20%), M < 0.4 and S > 0.2. On synthetic data with planted circles and
 * spheres, a group belongs to the planted subspace holding most of its latents' decoder energy
 * (≥ 50% on average); recall is the share of manifolds with an irreducible group of their own,
 * precision the share of irreducible groups that belong to a manifold.
 */
import type { Backend, SparseRows } from '../compute/backend.js';
import type { GroundTruth } from '../data/source.js';
import type { Sae } from '../sae/common.js';
import { encode } from '../sae/encode.js';
import { decoderWidth, unitDecoder } from '../sae/geometry.js';

export interface ManifoldGroup {
  latents: number[];
  /** rows where any of its latents fires */
  rows: number;
  /** variance shares of the top three principal components of its reconstructions */
  pcVar: number[];
  mixture: number;
  separability: number;
  irreducible: boolean;
  /** synthetic data: the planted subspace holding most of its decoder energy (≥ 50% on average
   *  over its latents), and that share */
  manifold?: number;
  planeShare?: number;
  /** [rows, 2]: its points on the top two components (for plots), at most 2,000 */
  points: Float32Array;
  /** per point: the row's index in the sample */
  pointRows: Int32Array;
  /** per point: the group's most active latent on that row */
  pointLatents: Int32Array;
}

export interface ManifoldReport {
  groups: ManifoldGroup[];
  /** synthetic data only */
  truth?: {
    manifolds: number;
    /** per manifold, the latents with most of their decoder in its subspace */
    latentsPer: number[];
    /** per manifold, the share of those inside an irreducible group assigned to it */
    covered: number[];
    /** manifolds with an irreducible group assigned to them */
    recall: number;
    /** irreducible groups assigned to a manifold */
    precision: number;
  };
}

const EPS = 0.1, MIX_MAX = 0.4, SEP_MIN = 0.2, PLANE = 0.9, SECOND = 0.2;

/** Share of points within EPS of the best line, over 90 directions. */
export function mixtureIndex(p: Float32Array, n: number): number {
  let best = 0;
  for (let t = 0; t < 90; t++) {
    const a = (Math.PI * t) / 90, c = Math.cos(a), s = Math.sin(a);
    const proj = new Float64Array(n);
    for (let i = 0; i < n; i++) proj[i] = c * p[2 * i]! + s * p[2 * i + 1]!;
    proj.sort();
    // the most points inside any window of width 2·EPS (two pointers over the sorted projections)
    let lo = 0;
    for (let hi = 0; hi < n; hi++) {
      while (proj[hi]! - proj[lo]! > 2 * EPS) lo++;
      best = Math.max(best, (hi - lo + 1) / n);
    }
  }
  return best;
}

/** Mutual information (nats) of two coordinates on a 16×16 grid over ±3σ. */
function mutualInformation(x: Float64Array, y: Float64Array): number {
  const B = 16, n = x.length, joint = new Float64Array(B * B), px = new Float64Array(B), py = new Float64Array(B);
  const bin = (v: number): number => Math.min(B - 1, Math.max(0, Math.floor(((v + 3) / 6) * B)));
  for (let i = 0; i < n; i++) {
    const a = bin(x[i]!), b = bin(y[i]!);
    joint[a * B + b]!++; px[a]!++; py[b]!++;
  }
  let mi = 0;
  for (let a = 0; a < B; a++) for (let b = 0; b < B; b++) {
    const j = joint[a * B + b]!;
    if (j > 0) mi += (j / n) * Math.log((j * n) / (px[a]! * py[b]!));
  }
  return mi;
}

/** Minimum over 45 rotations of the mutual information between the coordinates. */
export function separabilityIndex(p: Float32Array, n: number): number {
  let best = Infinity;
  for (let t = 0; t < 45; t++) {
    const a = (Math.PI / 2) * (t / 45), c = Math.cos(a), s = Math.sin(a);
    const x = new Float64Array(n), y = new Float64Array(n);
    for (let i = 0; i < n; i++) { x[i] = c * p[2 * i]! - s * p[2 * i + 1]!; y[i] = s * p[2 * i]! + c * p[2 * i + 1]!; }
    best = Math.min(best, mutualInformation(x, y));
  }
  return best;
}

/** Top principal directions of rows [n, w] (power iteration with deflation on the covariance)
 *  and their shares of its trace. */
function principal(rows: Float64Array, n: number, w: number, k: number): { dirs: Float64Array[]; share: number[] } {
  const mean = new Float64Array(w);
  for (let i = 0; i < n; i++) for (let c = 0; c < w; c++) mean[c]! += rows[i * w + c]! / n;
  const cov = new Float64Array(w * w);
  for (let i = 0; i < n; i++) for (let a = 0; a < w; a++) {
    const xa = rows[i * w + a]! - mean[a]!;
    if (xa === 0) continue;
    for (let b = 0; b < w; b++) cov[a * w + b]! += (xa * (rows[i * w + b]! - mean[b]!)) / n;
  }
  let trace = 0;
  for (let a = 0; a < w; a++) trace += cov[a * w + a]!;
  const dirs: Float64Array[] = [], share: number[] = [];
  for (let q = 0; q < k; q++) {
    let v = Float64Array.from({ length: w }, (_, c) => Math.sin(1 + c * (q + 1.7)));
    let lambda = 0;
    for (let it = 0; it < 200; it++) {
      const u = new Float64Array(w);
      for (let a = 0; a < w; a++) { let s = 0; for (let b = 0; b < w; b++) s += cov[a * w + b]! * v[b]!; u[a] = s; }
      for (const d of dirs) { let dot = 0; for (let c = 0; c < w; c++) dot += u[c]! * d[c]!; for (let c = 0; c < w; c++) u[c]! -= dot * d[c]!; }
      const norm = Math.hypot(...u);
      if (norm === 0) break;
      lambda = norm;
      v = u.map((x) => x / norm);
    }
    dirs.push(v);
    share.push(trace > 0 ? lambda / trace : 0);
  }
  return { dirs, share };
}

/** How many rows each latent fires on. */
export function firingCounts(z: SparseRows, n: number): Float64Array {
  const fired = new Float64Array(n);
  for (let e = 0; e < z.idx.length; e++) if (z.idx[e]! >= 0 && z.vals[e]! > 0) fired[z.idx[e]!]!++;
  return fired;
}

/** The share of decoder row i's squared norm (W [n, w]) inside the subspace of orthonormal
 *  rows basis [dim, w]. */
export function subspaceShare(W: Float32Array, i: number, w: number, basis: Float32Array, dim: number): number {
  let norm = 0, inside = 0;
  for (let c = 0; c < w; c++) norm += W[i * w + c]! ** 2;
  for (let q = 0; q < dim; q++) {
    let dot = 0;
    for (let c = 0; c < w; c++) dot += W[i * w + c]! * basis[q * w + c]!;
    inside += dot * dot;
  }
  return norm > 0 ? inside / norm : 0;
}

/**
 * Groups from planes: for each latent and the partners it co-fires with most above chance
 * (lift > minLift, at least five rows together), the plane their decoder rows span; the group
 * of that plane is every firing latent with at least `minPlane` of its unit decoder's squared
 * norm inside it (a random direction in d dimensions has 2/d). Groups of ≥ 3 latents are kept,
 * largest first, each latent in one.
 */
function groupLatents(be: Backend, sae: Sae, z: SparseRows, fired: Float64Array, minLift: number, minPlane: number, perLatent: number): number[][] {
  const n = sae.cfg.n, w = decoderWidth(sae), unit = unitDecoder(be, sae);
  const both = new Map<number, number>();
  for (let r = 0; r < z.rows; r++) {
    const on: number[] = [];
    for (let e = z.rowPtr[r]!; e < z.rowPtr[r + 1]!; e++) if (z.idx[e]! >= 0 && z.vals[e]! > 0) on.push(z.idx[e]!);
    for (let a = 0; a < on.length; a++) for (let b = a + 1; b < on.length; b++) {
      const key = Math.min(on[a]!, on[b]!) * n + Math.max(on[a]!, on[b]!);
      both.set(key, (both.get(key) ?? 0) + 1);
    }
  }
  const partners = Array.from({ length: n }, () => [] as [number, number][]);
  for (const [key, c] of both) {
    const i = Math.floor(key / n), j = key % n, lift = (c * z.rows) / (fired[i]! * fired[j]!);
    if (c >= 5 && lift > minLift) { partners[i]!.push([j, lift]); partners[j]!.push([i, lift]); }
  }
  // an orthonormal basis (u, v) of span(d_i, d_j) per pair, then every latent's projection on all
  // of them by blocked GEMMs
  const basis: number[] = [];
  for (let i = 0; i < n; i++) {
    for (const [j] of partners[i]!.sort((a, b) => b[1] - a[1]).slice(0, perLatent)) {
      if (j < i && partners[j]!.slice(0, perLatent).some(([q]) => q === i)) continue; // the pair's plane is there already
      const u = unit.subarray(i * w, (i + 1) * w), v = new Float64Array(w);
      let dot = 0;
      for (let c = 0; c < w; c++) dot += u[c]! * unit[j * w + c]!;
      for (let c = 0; c < w; c++) v[c] = unit[j * w + c]! - dot * u[c]!;
      const vn = Math.hypot(...v);
      if (vn < 0.3) continue; // nearly parallel: a line, not a plane
      for (let c = 0; c < w; c++) basis.push(u[c]!);
      for (let c = 0; c < w; c++) basis.push(v[c]! / vn);
    }
  }
  const B = Float32Array.from(basis), P = basis.length / (2 * w), block = 256;
  const g = new Float32Array(2 * block * n);
  const seen = new Set<string>(), candidates: number[][] = [];
  for (let p0 = 0; p0 < P; p0 += block) {
    const m = Math.min(block, P - p0);
    be.gemm({ a: B.subarray(2 * p0 * w, 2 * (p0 + m) * w), b: unit, c: g.subarray(0, 2 * m * n), m: 2 * m, n, k: w, transB: true });
    for (let p = 0; p < m; p++) {
      const members: number[] = [];
      for (let l = 0; l < n; l++) {
        const a = g[2 * p * n + l]!, b = g[(2 * p + 1) * n + l]!;
        if (fired[l]! > 0 && a * a + b * b >= minPlane) members.push(l);
      }
      const key = members.join(',');
      if (members.length >= 3 && !seen.has(key)) { seen.add(key); candidates.push(members); }
    }
  }
  const taken = new Uint8Array(n), out: number[][] = [];
  for (const g of candidates.sort((a, b) => b.length - a.length)) {
    const free = g.filter((i) => !taken[i]);
    if (free.length < 3) continue;
    for (const i of free) taken[i] = 1;
    out.push(free);
  }
  return out;
}

/** A group's reconstructions r = Σ_{i∈G} a_i·W_dec[i] on the rows it fires on, on their top two
 *  principal components (standardized), with the mixture and separability indices. */
export function scoreGroup(sae: Sae, z: SparseRows, latents: number[]): ManifoldGroup {
  const w = decoderWidth(sae), W = sae.params.W_dec, inGroup = new Set(latents);
  const pts: { row: number; r: Float64Array; top: number }[] = [];
  for (let r = 0; r < z.rows; r++) {
    let v: Float64Array | null = null, top = -1, topAct = 0;
    for (let e = z.rowPtr[r]!; e < z.rowPtr[r + 1]!; e++) {
      const i = z.idx[e]!, a = z.vals[e]!;
      if (i < 0 || a <= 0 || !inGroup.has(i)) continue;
      v ??= new Float64Array(w);
      for (let c = 0; c < w; c++) v[c]! += a * W[i * w + c]!;
      if (a > topAct) { topAct = a; top = i; }
    }
    if (v) pts.push({ row: r, r: v, top });
  }
  const m = pts.length;
  const flat = new Float64Array(m * w);
  pts.forEach((p, i) => flat.set(p.r, i * w));
  const { dirs, share } = principal(flat, m, w, 3);
  const proj = new Float32Array(m * 2);
  for (let q = 0; q < 2; q++) {
    let mu = 0, sd = 0;
    const vals = pts.map((p) => { let s = 0; for (let c = 0; c < w; c++) s += p.r[c]! * dirs[q]![c]!; return s; });
    for (const v of vals) mu += v / m;
    for (const v of vals) sd += (v - mu) ** 2 / m;
    sd = Math.sqrt(sd) || 1;
    vals.forEach((v, i) => (proj[2 * i + q] = (v - mu) / sd));
  }
  const mixture = m ? mixtureIndex(proj, m) : 1, separability = m > 8 ? separabilityIndex(proj, m) : 0;
  const keep = Math.min(m, 2000), stride = m / Math.max(keep, 1);
  const points = new Float32Array(keep * 2), pointRows = new Int32Array(keep), pointLatents = new Int32Array(keep);
  for (let i = 0; i < keep; i++) {
    const s = Math.floor(i * stride);
    points[2 * i] = proj[2 * s]!; points[2 * i + 1] = proj[2 * s + 1]!; pointRows[i] = pts[s]!.row; pointLatents[i] = pts[s]!.top;
  }
  // a plane (or 3-space) the points fill, not a line: most variance in the top two (three)
  // components, the second well above zero, and no line holding most points
  const flatEnough = share[0]! + share[1]! >= PLANE || share[0]! + share[1]! + share[2]! >= PLANE;
  return { latents, rows: m, pcVar: share, mixture, separability, irreducible: flatEnough && share[1]! >= SECOND && mixture < MIX_MAX && separability > SEP_MIN, points, pointRows, pointLatents };
}

export function findManifolds(be: Backend, sae: Sae, x: Float32Array, rows: number, o: { minLift?: number; minPlane?: number; perLatent?: number; truth?: GroundTruth; maxGroups?: number } = {}): ManifoldReport {
  const { n } = sae.cfg, w = decoderWidth(sae), W = sae.params.W_dec;
  const { z } = encode(be, sae, x, rows);
  const fired = firingCounts(z, n);
  const groups = groupLatents(be, sae, z, fired, o.minLift ?? 2, o.minPlane ?? 0.5, o.perLatent ?? 4).slice(0, o.maxGroups ?? 200);
  // irreducible groups first, then the largest
  const out = groups.map((latents) => scoreGroup(sae, z, latents)).sort((a, b) => Number(b.irreducible) - Number(a.irreducible) || b.latents.length - a.latents.length);
  const report: ManifoldReport = { groups: out };
  const ms = o.truth?.manifolds;
  if (ms?.length) {
    const share = (i: number, j: number): number => subspaceShare(W, i, w, ms[j]!.basis, ms[j]!.dim);
    // a manifold's own latents: most of their decoder in its subspace
    const own = ms.map((_, j) => Array.from({ length: n }, (_, i) => i).filter((i) => fired[i]! > 0 && share(i, j) >= 0.5));
    for (const g of out) {
      // the group's manifold: the subspace holding most of its latents' decoder energy on average
      let best = -1, bs = 0;
      ms.forEach((_, j) => { const v = g.latents.reduce((a, i) => a + share(i, j), 0) / g.latents.length; if (v > bs) { bs = v; best = j; } });
      if (bs >= 0.5) { g.manifold = best; g.planeShare = bs; }
    }
    const irr = out.filter((g) => g.irreducible);
    const found = ms.map((_, j) => irr.filter((g) => g.manifold === j));
    report.truth = {
      manifolds: ms.length, latentsPer: own.map((l) => l.length),
      covered: own.map((list, j) => list.length ? list.filter((i) => found[j]!.some((g) => g.latents.includes(i))).length / list.length : 0),
      recall: found.filter((f) => f.length > 0).length / ms.length,
      precision: irr.length ? irr.filter((g) => g.manifold !== undefined).length / irr.length : 0,
    };
  }
  return report;
}
