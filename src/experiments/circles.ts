/**
 * Circles (Engels et al. 2024): how TopK, BatchTopK and JumpReLU represent a circular feature as
 * the dictionary and k grow. Data: linear features plus four circles, each writing
 * r·(cos φ·u + sin φ·v) in its own plane with φ one of twelve values, active in 15% of rows.
 * Per run and circle: the latents that represent it (≥ 50% of their decoder's squared norm in its
 * plane, and firing), how evenly their in-plane directions tile it (the largest angular gap
 * between neighbours), the FVU restricted to its plane on rows where it is active
 * (Σ‖P(x − x̂)‖² / Σ‖P(x − mean)‖²), how many of its latents fire per point, and whether
 * `analyze manifolds` finds it as an irreducible group.
 */
import { join } from 'node:path';
import { findManifolds, firingCounts, subspaceShare } from '../analysis/manifolds.js';
import type { Backend } from '../compute/backend.js';
import { lineSpec, writeSvg } from '../eval/plots.js';
import { writeFileAtomic } from '../io/atomic.js';
import { encode } from '../sae/encode.js';
import type { Sae } from '../sae/common.js';
import { evalAt, heldOutSynthetic, runDir, synthSpec, trainRun, type Scale } from './common.js';

const SETUP: Record<Scale, { data: Record<string, number>; latents: number[]; ks: number[]; tokens: number; batch: number; rows: number }> = {
  tiny: { data: { d: 32, features: 128, active: 3, circles: 2, circlePoints: 12, manifoldProb: 0.2 }, latents: [64], ks: [4], tokens: 65_536, batch: 1024, rows: 4096 },
  small: { data: { d: 64, features: 1024, active: 4, circles: 4, circlePoints: 12, manifoldProb: 0.15 }, latents: [256, 512, 1024], ks: [4, 8], tokens: 1_000_000, batch: 2048, rows: 20000 },
  medium: { data: { d: 128, features: 4096, active: 8, circles: 8, circlePoints: 12, manifoldProb: 0.1 }, latents: [1024, 2048, 4096, 8192], ks: [8, 16, 32], tokens: 4_000_000, batch: 4096, rows: 65536 },
};

const ARCHS = ['topk', 'batchtopk', 'jumprelu'] as const;

export interface CircleRow {
  arch: string;
  latents: number;
  k: number;
  fvu: number;
  l0: number;
  /** means over the circles */
  perCircle: number;
  maxGap: number;
  planeFvu: number;
  firingPerPoint: number;
  found: number;
  circles: number;
}

/** The per-circle measures of one SAE on held-out rows (see the file's comment). */
export function circleMeasures(be: Backend, sae: Sae, x: Float32Array, rows: number, angles: Float32Array, planes: Float32Array[], d: number) {
  const { z, recon } = encode(be, sae, x, rows);
  const n = sae.cfg.n, W = sae.params.W_dec, M = planes.length;
  const fired = firingCounts(z, n);
  return planes.map((P, j) => {
    const proj = (v: Float32Array | Float64Array, at: number): [number, number] => {
      let a = 0, b = 0;
      for (let c = 0; c < d; c++) { a += v[at + c]! * P[c]!; b += v[at + c]! * P[d + c]!; }
      return [a, b];
    };
    const own: number[] = [], dirs: number[] = [];
    for (let i = 0; i < n; i++) {
      if (!fired[i] || subspaceShare(W, i, d, P, 2) < 0.5) continue;
      const [a, b] = proj(W, i * d);
      own.push(i);
      dirs.push(Math.atan2(b, a));
    }
    dirs.sort((p, q) => p - q);
    let gap = own.length ? 2 * Math.PI - (dirs[dirs.length - 1]! - dirs[0]!) : 2 * Math.PI;
    for (let t = 1; t < dirs.length; t++) gap = Math.max(gap, dirs[t]! - dirs[t - 1]!);
    let err = 0, tot = 0, firing = 0;
    const ownSet = new Set(own), mean = [0, 0];
    const active: number[] = [];
    for (let r = 0; r < rows; r++) if (!Number.isNaN(angles[(r * M + j) * 2]!)) active.push(r);
    for (const r of active) { const [a, b] = proj(x, r * d); mean[0]! += a / active.length; mean[1]! += b / active.length; }
    for (const r of active) {
      const [a, b] = proj(x, r * d), [ra, rb] = proj(recon, r * d);
      err += (a - ra) ** 2 + (b - rb) ** 2;
      tot += (a - mean[0]!) ** 2 + (b - mean[1]!) ** 2;
      for (let e = z.rowPtr[r]!; e < z.rowPtr[r + 1]!; e++) if (ownSet.has(z.idx[e]!) && z.vals[e]! > 0) firing++;
    }
    return { latents: own.length, maxGapDeg: (gap * 180) / Math.PI, planeFvu: tot > 0 ? err / tot : NaN, firingPerPoint: active.length ? firing / active.length : 0 };
  });
}

export async function circlesExperiment(be: Backend, scale: Scale, out: string): Promise<string> {
  const s = SETUP[scale];
  const data = synthSpec(s.data);
  const rows: CircleRow[] = [];
  for (const arch of ARCHS) {
    for (const k of s.ks) {
      for (const latents of s.latents) {
        const settings = { data, arch, latents, tokens: s.tokens, batch: s.batch, ...(arch === 'jumprelu' ? { targetL0: k } : { k }) };
        const res = await trainRun(be, runDir(out, `${arch}-n${latents}-k${k}`), settings);
        const src = heldOutSynthetic(be, s.data);
        const x = new Float32Array(s.rows * src.d);
        src.read(x, s.rows);
        const planes = src.truth.manifolds!.map((m) => m.basis);
        const per = circleMeasures(be, res.sae, x, s.rows, src.lastManifoldValues, planes, src.d);
        const found = findManifolds(be, res.sae, x, s.rows, { truth: src.truth }).truth!;
        const ev = evalAt(be, res, heldOutSynthetic(be, s.data), s.rows);
        const mean = (f: (p: (typeof per)[number]) => number): number => per.reduce((a, p) => a + f(p), 0) / per.length;
        rows.push({
          arch, latents, k, fvu: ev.fvu, l0: ev.l0, perCircle: mean((p) => p.latents), maxGap: mean((p) => p.maxGapDeg), planeFvu: mean((p) => p.planeFvu),
          firingPerPoint: mean((p) => p.firingPerPoint), found: Math.round(found.recall * planes.length), circles: planes.length,
        });
      }
    }
  }
  const series = rows.map((r) => ({ ...r, series: `${r.arch} k=${r.k}` }));
  await writeSvg(join(out, 'circles-fvu.svg'), lineSpec(series, { x: 'latents', y: 'planeFvu', series: 'series', title: 'FVU inside the circles\' planes, rows where the circle is active', xTitle: 'latents (log)', yTitle: 'FVU in the plane (log)', logX: true, logY: true }));
  await writeSvg(join(out, 'circles-latents.svg'), lineSpec(series, { x: 'latents', y: 'perCircle', series: 'series', title: 'latents representing each circle (mean of the circles)', xTitle: 'latents (log)', yTitle: 'latents per circle', logX: true }));
  const table = ['| arch | latents | k | FVU (all) | L0 | latents per circle | largest gap (°) | FVU in the plane | circle latents firing per point | found as irreducible |', '|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.arch} | ${r.latents} | ${r.k} | ${r.fvu.toFixed(4)} | ${r.l0.toFixed(1)} | ${r.perCircle.toFixed(1)} | ${r.maxGap.toFixed(0)} | ${r.planeFvu.toFixed(4)} | ${r.firingPerPoint.toFixed(2)} | ${r.found} of ${r.circles} |`)];
  const report = [`# Circles (${scale})`, '',
    `Data \`${data}\` (each circle: twelve angles, radius U[0.5, 1.5], active in ${100 * s.data.manifoldProb!}% of rows, in its own plane); ${s.tokens} tokens in batches of ${s.batch}; ` +
    `measured on ${s.rows} held-out rows. JumpReLU is steered to L0 = k. A circle's latents: those firing with ≥ 50% of their decoder's squared norm in its plane.`, '',
    ...table, '', '![FVU in the plane](circles-fvu.svg) ![latents per circle](circles-latents.svg)', ''].join('\n');
  writeFileAtomic(join(out, 'report.md'), [report]);
  return report;
}
