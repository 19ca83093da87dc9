/**
 * Architectures compared on the same synthetic data (issue 8): TopK, BatchTopK, Matryoshka,
 * JumpReLU with the per-batch and the persistent-KDE threshold gradient, ReLU + L1, and the
 * dense VAE anchor. Each sparse architecture is trained at the same three L0 points (k/2, k, 2k:
 * by k, or by --target-l0 for the penalized ones), so each has an MSE–L0 frontier over the same
 * range; they are compared by FVU at matched L0 (the scale's k, log–log interpolation), never by
 * one run's FVU. One seed; the fair comparison with tuning sweeps and seeds is issue 14's item 7. Also measured: the variance of
 * JumpReLU's threshold gradient under the persistent estimator relative to the per-batch one,
 * at fixed parameters over a stream of batches.
 */
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { SyntheticSource } from '../data/synthetic.js';
import { fvuAt, paretoFrontier, type FrontierPoint } from '../eval/frontier.js';
import { lineSpec, writeSvg } from '../eval/plots.js';
import { writeFileAtomic } from '../io/atomic.js';
import { jumpreluForwardBackward, KdeState } from '../sae/arch/jumprelu.js';
import type { Sae, SaeParams } from '../sae/common.js';
import { evalAt, runDir, SCALES, synthSpec, heldOutSynthetic, trainRun, type Scale } from './common.js';

const KDE_DECAY = 0.95;

interface Variant {
  name: string;
  /** the sparsity knob's settings: [label, training settings] */
  settings: [string, Record<string, unknown>][];
}

/** Every sparse architecture at the same three L0 points (k/2, k, 2k): the k-sparse ones by
 *  their k, the penalized ones by --target-l0 (their λ steered to it during training). */
function variants(k: number): Variant[] {
  const ks = [Math.max(1, Math.round(k / 2)), k, 2 * k];
  const byK = (arch: string): [string, Record<string, unknown>][] => ks.map((v) => [`k=${v}`, { arch, k: v }]);
  const byTarget = (arch: string, extra: Record<string, unknown> = {}): [string, Record<string, unknown>][] =>
    ks.map((v) => [`target L0=${v}`, { arch, targetL0: v, ...extra }]);
  return [
    { name: 'topk', settings: byK('topk') },
    { name: 'batchtopk', settings: byK('batchtopk') },
    { name: 'matryoshka', settings: byK('matryoshka') },
    { name: 'jumprelu', settings: byTarget('jumprelu') },
    { name: 'jumprelu-kde', settings: byTarget('jumprelu', { kdeDecay: KDE_DECAY }) },
    { name: 'relu', settings: byTarget('relu') },
    { name: 'vae', settings: [['noise=0.1', { arch: 'vae', vaeNoise: 0.1 }]] },
  ];
}

/** Mean over latents of the variance across batches of ∂L/∂θ_i, per-batch vs persistent, at fixed params. */
function thresholdGradientVariance(be: Backend, sae: Sae, source: SyntheticSource, batch: number, batches: number, lambda: number, eps: number): { ratio: number; latents: number } {
  const { d, n } = sae.cfg;
  const p: SaeParams = { ...sae.params };
  const x = new Float32Array(batch * d);
  const kde = new KdeState(n);
  const burnIn = Math.ceil(3 / (1 - KDE_DECAY));
  const sums = { b: new Float64Array(n), b2: new Float64Array(n), k: new Float64Array(n), k2: new Float64Array(n) };
  let count = 0;
  for (let t = 0; t < burnIn + batches; t++) {
    source.read(x, batch);
    const g1 = { ...p, threshold: new Float32Array(n), W_enc: new Float32Array(n * d), b_enc: new Float32Array(n), W_dec: new Float32Array(n * d), b_dec: new Float32Array(d) };
    const g2 = { ...g1, threshold: new Float32Array(n) };
    jumpreluForwardBackward(be, p, x, batch, { lambda, eps, kdeDecay: 0 }, g1);
    jumpreluForwardBackward(be, p, x, batch, { lambda, eps, kdeDecay: KDE_DECAY }, g2, kde);
    if (t < burnIn) continue;
    count++;
    for (let i = 0; i < n; i++) {
      sums.b[i]! += g1.threshold[i]!; sums.b2[i]! += g1.threshold[i]! ** 2;
      sums.k[i]! += g2.threshold[i]!; sums.k2[i]! += g2.threshold[i]! ** 2;
    }
  }
  let vb = 0, vk = 0, latents = 0;
  for (let i = 0; i < n; i++) {
    const varB = sums.b2[i]! / count - (sums.b[i]! / count) ** 2;
    if (!(varB > 0)) continue;
    latents++;
    vb += varB;
    vk += sums.k2[i]! / count - (sums.k[i]! / count) ** 2;
  }
  return { ratio: vk / vb, latents };
}

export async function architecturesExperiment(be: Backend, scale: Scale, out: string): Promise<string> {
  const s = SCALES[scale];
  const base = { data: synthSpec(s.data), latents: s.latents, tokens: s.tokens, batch: s.batch };
  const heldOut = (): SyntheticSource => heldOutSynthetic(be, s.data);
  const runsTable = ['| architecture | setting | L0 | FVU | dead (never fired) | MMCS |', '|---|---|---|---|---|---|'];
  const points: FrontierPoint[] = [];
  const rows: { v: string; l0: number; fvu: number; dead: number; mmcs: number }[] = [];
  let kdeProbe: { sae: Sae; lambda: number } | null = null;
  for (const v of variants(s.k)) {
    for (const [label, settings] of v.settings) {
      const res = await trainRun(be, runDir(out, `${v.name}-${label.replace(/[^\w.=-]/g, '')}`), { ...base, ...settings });
      const ev = evalAt(be, res, heldOut(), s.evalTokens);
      runsTable.push(`| ${v.name} | ${label} | ${ev.l0.toFixed(2)} | ${ev.fvu.toFixed(4)} | ${(100 * ev.never_fired_fraction).toFixed(2)}% | ${ev.mmcs!.toFixed(4)} |`);
      rows.push({ v: v.name, l0: ev.l0, fvu: ev.fvu, dead: ev.never_fired_fraction, mmcs: ev.mmcs! });
      if (v.name !== 'vae') points.push({ label: `${v.name} ${label}`, group: v.name, l0: ev.l0, fvu: ev.fvu });
      // the threshold-gradient probe runs at the trained parameters and final λ of JumpReLU at L0 = k
      if (v.name === 'jumprelu' && settings.targetL0 === s.k) kdeProbe = { sae: res.sae, lambda: res.last?.lambda ?? 0 };
    }
  }
  // comparison at matched L0 = k
  const target = s.k;
  const matched = ['| architecture | FVU at L0 = ' + target + ' (frontier, log–log) | run nearest that L0: L0 / dead / MMCS |', '|---|---|---|'];
  for (const v of variants(s.k).filter((x) => x.name !== 'vae')) {
    const front = paretoFrontier(points.filter((p) => p.group === v.name));
    const f = fvuAt(front, target);
    const near = rows.filter((r) => r.v === v.name).sort((a, b) => Math.abs(Math.log(a.l0 / target)) - Math.abs(Math.log(b.l0 / target)))[0]!;
    const range = front.length ? `${front[0]!.l0.toFixed(1)}–${front[front.length - 1]!.l0.toFixed(1)}` : 'none';
    matched.push(`| ${v.name} | ${Number.isFinite(f) ? f.toFixed(4) : `outside its L0 range (${range})`} | ${near.l0.toFixed(2)} / ${(100 * near.dead).toFixed(2)}% / ${near.mmcs.toFixed(4)} |`);
  }
  const vae = rows.find((r) => r.v === 'vae')!;
  // threshold-gradient variance at the trained parameters of one JumpReLU run
  const probe = kdeProbe ? thresholdGradientVariance(be, kdeProbe.sae, new SyntheticSource({ ...s.data, stream: 2 }, be), s.batch, 200, kdeProbe.lambda, 0.05) : null;
  await writeSvg(join(out, 'frontier.svg'), lineSpec(points.map((p) => ({ architecture: p.group, l0: p.l0, fvu: p.fvu })),
    { x: 'l0', y: 'fvu', series: 'architecture', title: 'MSE–L0 by architecture (held-out synthetic data)', xTitle: 'L0 (log)', yTitle: 'FVU (log)', logX: true, logY: true }));
  const report = [`# Architectures on the same synthetic data (${scale})`, '',
    `Data \`${base.data}\` (${s.data.features} true features), ${s.latents} latents, ${s.tokens} tokens in batches of ${s.batch}, defaults otherwise; evaluated on ${s.evalTokens} held-out tokens (stream 1). BatchTopK and Matryoshka are evaluated with their inference threshold; the VAE with z = μ.`, '',
    '## Every run', '', ...runsTable, '',
    '## At matched L0', '', ...matched, '',
    `The VAE (dense anchor): L0 = ${vae.l0.toFixed(0)} (every latent), FVU ${vae.fvu.toFixed(4)}, MMCS ${vae.mmcs.toFixed(4)}.`, '',
    probe ? `JumpReLU threshold gradient at fixed parameters (the target-L0 = ${s.k} run at its final λ = ${kdeProbe!.lambda.toPrecision(3)}, ε = 0.05, ${s.batch}-row batches, 200 batches after burn-in, ${probe.latents} latents with a nonzero per-batch variance): variance(persistent KDE, decay ${KDE_DECAY}) / variance(per batch) = ${probe.ratio.toFixed(4)}.` : '', '',
    '![frontier](frontier.svg)', ''].join('\n');
  writeFileAtomic(join(out, 'report.md'), [report]);
  return report;
}
