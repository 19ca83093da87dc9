/**
 * Scaling laws and a recipe (Gao et al. 2024 §3): TopK SAEs over latents N (five sizes over 16×)
 * and k (four values) on synthetic data rich enough that larger dictionaries keep improving,
 * the learning rate swept per N (×1, ×4, ×16 of Gao et al.'s fit at the second k, grown ×4 while
 * the largest is the best; the best factor reused for the other ks), trained to a fixed budget. Fits: L(N) = c·N^(−α) + L_irr per
 * k and Gao et al.'s joint L(N, K), each with bootstrap intervals; the best lr against N; the
 * tokens until FVU is within 5% of its value at the end of the constant-lr phase, against N.
 * fits.json feeds `saekit recipe`.
 */
import { join } from 'node:path';
import { bootstrap, fitIrreducible, fitJoint, fitPower, jointLoss } from '../analysis/scaling.js';
import type { Backend } from '../compute/backend.js';
import { metricRows } from '../eval/report.js';
import { lineSpec, writeSvg } from '../eval/plots.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { DEFAULT_DECAY, defaultLr } from '../train/config.js';
import type { ScalingFits } from '../train/recipe.js';
import { evalAt, heldOutSynthetic, runDir, synthSpec, trainRun, type Scale } from './common.js';

const SETUP: Record<Scale, { data: Record<string, number>; latents: number[]; ks: number[]; lrFactors: number[]; tokens: number; batch: number; evalTokens: number }> = {
  tiny: { data: { d: 16, features: 256, active: 4 }, latents: [32, 64], ks: [2, 4], lrFactors: [1, 2], tokens: 32_768, batch: 512, evalTokens: 2048 },
  small: { data: { d: 64, features: 4096, active: 8 }, latents: [128, 256, 512, 1024, 2048], ks: [4, 8, 16, 32], lrFactors: [1, 4, 16], tokens: 1_000_000, batch: 2048, evalTokens: 32768 },
  medium: { data: { d: 128, features: 32768, active: 16 }, latents: [512, 1024, 2048, 4096, 8192], ks: [8, 16, 32, 64], lrFactors: [1, 4, 16], tokens: 4_000_000, batch: 4096, evalTokens: 65536 },
};

/**
 * Tokens until the logged FVU (a running mean over five logs) first comes within 5% of its value
 * at the end of the constant-lr phase (before the decay, which would otherwise mark every run as
 * converging in its last fifth), and whether the run was still improving there (> 2% over the
 * phase's last fifth).
 */
function tokensToConverge(dir: string, totalTokens: number, decay = DEFAULT_DECAY): { tokens: number; stillImproving: boolean } {
  const rows = metricRows(dir, 100_000).filter((r) => r.tokens <= (1 - decay) * totalTokens);
  const smooth = rows.map((_, i) => rows.slice(Math.max(0, i - 4), i + 1).reduce((a, r) => a + r.fvu, 0) / Math.min(5, i + 1));
  const end = smooth[smooth.length - 1]!;
  const at = smooth.findIndex((v) => v <= end * 1.05);
  const earlier = smooth[Math.floor(smooth.length * 0.8)] ?? end;
  return { tokens: rows[Math.max(0, at)]!.tokens, stillImproving: earlier > end * 1.02 };
}

export async function scalingExperiment(be: Backend, scale: Scale, out: string): Promise<string> {
  const s = SETUP[scale];
  const data = synthSpec(s.data), kLr = s.ks[Math.min(1, s.ks.length - 1)]!;
  const points: { n: number; k: number; loss: number; lr: number; factor: number; dir: string }[] = [];
  const run = async (n: number, k: number, factor: number) => {
    const dir = runDir(out, `n${n}-k${k}-lr${factor}`);
    const res = await trainRun(be, dir, { data, latents: n, k, lr: factor * defaultLr(n), tokens: s.tokens, batch: s.batch });
    const loss = evalAt(be, res, heldOutSynthetic(be, s.data), s.evalTokens).fvu;
    return { n, k, loss, lr: factor * defaultLr(n), factor, dir };
  };
  const bestLr: { n: number; lr: number; factor: number; tokens: number; stillImproving: boolean }[] = [];
  for (const n of s.latents) {
    // the grid, grown ×4 while its largest factor is the best (so the best is bracketed), to 256
    const sweep = [];
    for (const f of s.lrFactors) sweep.push(await run(n, kLr, f));
    let best = sweep.reduce((a, b) => (b.loss < a.loss ? b : a));
    while (best.factor === Math.max(...sweep.map((r) => r.factor)) && best.factor * 4 <= 256) {
      sweep.push(await run(n, kLr, best.factor * 4));
      best = sweep.reduce((a, b) => (b.loss < a.loss ? b : a));
    }
    bestLr.push({ n, lr: best.lr, factor: best.factor, ...tokensToConverge(best.dir, s.tokens) });
    points.push(best);
    for (const k of s.ks) if (k !== kLr && k < n) points.push(await run(n, k, best.factor));
  }
  // fits
  const perK = s.ks.map((k) => {
    const pts = points.filter((p) => p.k === k);
    const fit = fitIrreducible(pts.map((p) => p.n), pts.map((p) => p.loss));
    const ci = bootstrap(pts, (sample) => fitIrreducible(sample.map((p) => p.n), sample.map((p) => p.loss)).alpha);
    return { k, ...fit, ci };
  });
  const joint = fitJoint(points);
  const jointCi = {
    bn: bootstrap(points, (sample) => fitJoint(sample)[2], 100),
    bk: bootstrap(points, (sample) => fitJoint(sample)[1], 100),
  };
  const lrFit = fitPower(bestLr.map((b) => b.n), bestLr.map((b) => b.lr));
  const tokFit = fitPower(bestLr.map((b) => b.n), bestLr.map((b) => b.tokens));
  const fits: ScalingFits = {
    source: `saekit experiment scaling (${scale})`, data, d: s.data.d!, batch: s.batch, lr: lrFit, tokens: tokFit, joint,
    latents: [s.latents[0]!, s.latents[s.latents.length - 1]!], ks: s.ks,
  };
  writeJsonAtomic(join(out, 'fits.json'), { ...fits, perK, jointCi, bestLr, points: points.map(({ dir: _d, ...p }) => p) });
  // plots: loss against N per k, measured and fitted; the best lr against N
  const fitted = s.ks.flatMap((k) => s.latents.map((n) => ({ n, fvu: jointLoss(joint, n, k), series: `k=${k} joint fit` })));
  const measured = points.map((p) => ({ n: p.n, fvu: p.loss, series: `k=${p.k} measured` }));
  await writeSvg(join(out, 'scaling.svg'), lineSpec([...measured, ...fitted],
    { x: 'n', y: 'fvu', series: 'series', title: 'held-out FVU against latents N, per k (points: runs; lines: the joint fit)', xTitle: 'latents N (log)', yTitle: 'FVU (log)', logX: true, logY: true }));
  await writeSvg(join(out, 'lr.svg'), lineSpec([...bestLr.map((b) => ({ n: b.n, lr: b.lr, series: 'best of the sweep' })), ...bestLr.map((b) => ({ n: b.n, lr: defaultLr(b.n), series: 'Gao et al.: 2e-4/√(N/2^14)' }))],
    { x: 'n', y: 'lr', series: 'series', title: 'learning rate against N', xTitle: 'latents N (log)', yTitle: 'lr (log)', logX: true, logY: true }));
  const f3 = (v: number): string => v.toFixed(3);
  const report = [`# Scaling laws (${scale})`, '',
    `TopK on \`${data}\`, ${s.tokens} tokens in batches of ${s.batch}; FVU on ${s.evalTokens} held-out rows. The lr was swept at k=${kLr} over ${s.lrFactors.join(', ')} × Gao et al.'s 2e-4/√(N/2^14) (grown ×4 while the largest was best); the best factor is reused for the other ks.`, '',
    '| N | ' + s.ks.map((k) => `k=${k}`).join(' | ') + ' | best lr (factor) | tokens to converge (constant-lr phase) |', '|---|' + s.ks.map(() => '---|').join('') + '---|---|',
    ...bestLr.map((b) => `| ${b.n} | ` + s.ks.map((k) => { const p = points.find((q) => q.n === b.n && q.k === k); return p ? p.loss.toFixed(4) : '—'; }).join(' | ') +
      ` | ${b.lr.toExponential(2)} (×${b.factor}) | ${b.tokens}${b.stillImproving ? ' (still improving)' : ''} |`), '',
    '| k | L(N) = c·N^(−α) + L_irr: α (90% bootstrap) | c | L_irr |', '|---|---|---|---|',
    ...perK.map((p) => `| ${p.k} | ${f3(p.alpha)} (${f3(p.ci[0])}–${f3(p.ci[1])}) | ${f3(p.c)} | ${f3(p.irr)} |`), '',
    `Joint fit L(N, K) = exp(a + b_k·log K + b_n·log N + g·log K·log N) + exp(z + e·log K): a ${f3(joint[0])}, b_k ${f3(joint[1])} (${f3(jointCi.bk[0])}–${f3(jointCi.bk[1])}), ` +
    `b_n ${f3(joint[2])} (${f3(jointCi.bn[0])}–${f3(jointCi.bn[1])}), g ${f3(joint[3])}, z ${f3(joint[4])}, e ${f3(joint[5])}.`, '',
    `Best lr ≈ ${lrFit.c.toExponential(2)}·N^${f3(lrFit.p)} (Gao et al.: N^−0.5); tokens to converge ≈ ${tokFit.c.toExponential(2)}·N^${f3(tokFit.p)}.`, '',
    '![FVU against N](scaling.svg) ![lr against N](lr.svg)', ''].join('\n');
  writeFileAtomic(join(out, 'report.md'), [report]);
  return report;
}
