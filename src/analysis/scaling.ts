/**
 * Scaling-law fits (Gao et al. 2024, "Scaling and evaluating sparse autoencoders", §3):
 *   per k:  L(N) = c·N^(−α) + L_irr                      (a power law with an irreducible loss)
 *   joint:  L(N, K) = exp(a + b_k·log K + b_n·log N + g·log K·log N) + exp(z + e·log K)
 * both fitted to log L by least squares (the irreducible loss by a scan, the joint form by
 * Nelder–Mead from a linear start), plain power laws y = c·x^p by log–log regression, and
 * bootstrap intervals by refitting on points drawn with replacement.
 */
import { Rng } from '../util/rng.js';

export interface PowerFit { c: number; p: number }
export interface IrreducibleFit { c: number; alpha: number; irr: number }
export type JointFit = [a: number, bk: number, bn: number, g: number, z: number, e: number];

/** y = c·x^p by least squares on logs. */
export function fitPower(x: number[], y: number[]): PowerFit {
  const lx = x.map(Math.log), ly = y.map(Math.log), n = x.length;
  const mx = lx.reduce((a, b) => a + b, 0) / n, my = ly.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) { sxy += (lx[i]! - mx) * (ly[i]! - my); sxx += (lx[i]! - mx) ** 2; }
  const p = sxx > 0 ? sxy / sxx : 0;
  return { c: Math.exp(my - p * mx), p };
}

/** L(N) = c·N^(−α) + L_irr: L_irr scanned over [0, min L) (400 steps), the power law fitted
 *  to L − L_irr for each, the one with the least squared error of log L kept. */
export function fitIrreducible(N: number[], L: number[]): IrreducibleFit {
  const min = Math.min(...L);
  let best: IrreducibleFit & { sse: number } = { c: 1, alpha: 0, irr: 0, sse: Infinity };
  for (let s = 0; s < 400; s++) {
    const irr = (min * s) / 400;
    const f = fitPower(N, L.map((v) => v - irr));
    const sse = N.reduce((a, n, i) => a + (Math.log(f.c * n ** f.p + irr) - Math.log(L[i]!)) ** 2, 0);
    if (sse < best.sse) best = { c: f.c, alpha: -f.p, irr, sse };
  }
  return { c: best.c, alpha: best.alpha, irr: best.irr };
}

export const jointLoss = (f: JointFit, n: number, k: number): number => {
  const [a, bk, bn, g, z, e] = f, lk = Math.log(k), ln = Math.log(n);
  return Math.exp(a + bk * lk + bn * ln + g * lk * ln) + Math.exp(z + e * lk);
};

/** Nelder–Mead minimization of f from x0 (initial simplex steps `step`). */
export function nelderMead(f: (x: number[]) => number, x0: number[], step = 0.5, iters = 4000): number[] {
  const d = x0.length;
  let pts = [x0, ...x0.map((_, i) => x0.map((v, j) => (i === j ? v + step : v)))].map((x) => ({ x, v: f(x) }));
  for (let it = 0; it < iters; it++) {
    pts.sort((p, q) => p.v - q.v);
    if (Math.abs(pts[d]!.v - pts[0]!.v) < 1e-12 * (1 + Math.abs(pts[0]!.v))) break;
    const centroid = x0.map((_, j) => pts.slice(0, d).reduce((a, p) => a + p.x[j]!, 0) / d);
    const along = (t: number): number[] => centroid.map((c, j) => c + t * (pts[d]!.x[j]! - c));
    const r = { x: along(-1), v: 0 }; r.v = f(r.x);
    if (r.v < pts[0]!.v) {
      const e = { x: along(-2), v: 0 }; e.v = f(e.x);
      pts[d] = e.v < r.v ? e : r;
    } else if (r.v < pts[d - 1]!.v) {
      pts[d] = r;
    } else {
      const c = { x: along(0.5), v: 0 }; c.v = f(c.x);
      if (c.v < pts[d]!.v) pts[d] = c;
      else pts = pts.map((p, i) => (i === 0 ? p : { x: p.x.map((v, j) => pts[0]!.x[j]! + 0.5 * (v - pts[0]!.x[j]!)), v: 0 })).map((p, i) => (i === 0 ? p : { ...p, v: f(p.x) }));
    }
  }
  pts.sort((p, q) => p.v - q.v);
  return pts[0]!.x;
}

/** Gao et al.'s joint form fitted to log L over points (N, K, L), started from the per-k fits. */
export function fitJoint(points: { n: number; k: number; loss: number }[]): JointFit {
  const err = (x: number[]): number => points.reduce((a, p) => {
    const v = jointLoss(x as JointFit, p.n, p.k);
    return a + (Number.isFinite(v) && v > 0 ? (Math.log(v) - Math.log(p.loss)) ** 2 : 1e6);
  }, 0);
  const lossMin = Math.min(...points.map((p) => p.loss));
  const start: number[] = [0, 0, -0.25, 0, Math.log(lossMin / 2), 0];
  let x = nelderMead(err, start, 0.5);
  for (let restart = 0; restart < 3; restart++) x = nelderMead(err, x, 0.1);
  return x as JointFit;
}

/** 5th and 95th percentiles of a statistic over bootstrap resamples of the points. */
export function bootstrap<T>(points: T[], stat: (sample: T[]) => number, reps = 200, seed = 1): [number, number] {
  const rng = new Rng(seed), vals: number[] = [];
  for (let r = 0; r < reps; r++) {
    const sample = points.map(() => points[rng.int(points.length)]!);
    const v = stat(sample);
    if (Number.isFinite(v)) vals.push(v);
  }
  vals.sort((a, b) => a - b);
  const at = (q: number): number => vals[Math.min(vals.length - 1, Math.max(0, Math.round(q * (vals.length - 1))))] ?? NaN;
  return [at(0.05), at(0.95)];
}
