/**
 * Architectures compared fairly on the same data (issue 14 item 7): TopK, BatchTopK,
 * Matryoshka, JumpReLU, ReLU + L1, and the dense VAE anchor, in two synthetic regimes of
 * interference (few features, few active; many features, more active) and, given a shard
 * folder of real activations (`real`), on those: its last evalTokens rows held out, the
 * evalTokens before them for validation, the rest for training. Each sparse architecture is trained
 * at the same three L0 points (k/2, k, 2k: by k, or by --target-l0 for the penalized ones) at
 * the same token budget. Its learning rate is tuned (1×, 4×, 16× the default, and ×4 more while
 * the best is the largest tried) on seed 0 by FVU at matched L0 = k on validation rows
 * (synthetic stream 2); then three seeds at the chosen rate are evaluated on held-out rows
 * (stream 1) and FVU at matched L0 is reported as the mean and range over seeds (log–log
 * interpolation on each seed's frontier). Also measured: the
 * variance of JumpReLU's threshold gradient under the persistent estimator relative to the
 * per-batch one, at fixed parameters over a stream of batches.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import type { ActivationSource } from '../data/source.js';
import { readManifest } from '../data/shards.js';
import { formatDataSpec, openData } from '../data/spec.js';
import { SyntheticSource } from '../data/synthetic.js';
import { matchedFvu, type FrontierPoint } from '../eval/frontier.js';
import { lineSpec, writeSvg } from '../eval/plots.js';
import { writeFileAtomic } from '../io/atomic.js';
import { jumpreluForwardBackward, KdeState } from '../sae/arch/jumprelu.js';
import type { Sae, SaeParams } from '../sae/common.js';
import { defaultLr } from '../train/config.js';
import { TrainingDiverged, type TrainResult } from '../train/trainer.js';
import { evalAt, heldOutSynthetic, runDir, SCALES, synthSpec, trainRun, type Scale } from './common.js';

const KDE_DECAY = 0.95;

interface Variant {
  name: string;
  /** the sparsity knob's settings: [label, training settings] */
  settings: [string, Record<string, unknown>][];
}

/** Learning rates tried first, as multiples of the default 2e-4/√(n/2^14); while the best is the
 *  largest tried, the grid grows by another ×4 (up to MAX_LR_MULT), so the chosen rate lies
 *  inside the grid, not at its edge. And the seeds. */
const LR_MULTS = [1, 4, 16];
const MAX_LR_MULT = 256;
const SEEDS = [0, 1, 2];

/** A regime: its training data and fresh readers of its validation and held-out rows. */
interface Regime {
  name: string;
  tag: string;
  train: string;
  validation: () => Promise<ActivationSource>;
  heldOut: () => Promise<ActivationSource>;
  /** how the validation and held-out rows were chosen, for the report */
  rows: string;
  /** the generator's options (synthetic regimes; the threshold-gradient probe reads more rows) */
  synthetic?: Record<string, number>;
}

/** The two regimes of interference per scale (d fixed, features and activity varied), each
 *  validated on stream 2 and held out on stream 1. */
function syntheticRegimes(be: Backend, scale: Scale): Regime[] {
  const { d, features: f, active: a } = SCALES[scale].data as { d: number; features: number; active: number };
  const regime = (name: string, tag: string, data: Record<string, number>): Regime => ({
    name, tag, train: synthSpec(data), synthetic: data, rows: 'validation rows: synthetic stream 2; held-out rows: stream 1',
    validation: async () => new SyntheticSource({ ...data, stream: 2 }, be), heldOut: async () => heldOutSynthetic(be, data),
  });
  return [
    regime('low interference', 'low', { d, features: Math.max(2 * d, f / 4), active: Math.max(2, a / 2) }),
    regime('high interference', 'high', { d, features: f, active: a }),
  ];
}

/** Real activations in a shard folder: the last `evalTokens` rows held out (the held-out rule,
 *  docs/design.md §5.1), the `evalTokens` before them for validation, the rest for training. */
function realRegime(be: Backend, dir: string, evalTokens: number): Regime {
  const total = readManifest(dir).manifest.total_tokens;
  if (total < 6 * evalTokens) throw new Error(`${dir}: ${total} rows are too few for the study (it holds out 2 × ${evalTokens} and trains on the rest)`);
  const part = (start: number, end: number) => ({ kind: 'shards' as const, path: dir, rows: { start, end } });
  const open = (start: number, end: number) => async () => openData(part(start, end), be);
  return {
    name: 'real activations', tag: 'real', train: formatDataSpec(part(0, total - 2 * evalTokens)),
    validation: open(total - 2 * evalTokens, total - evalTokens), heldOut: open(total - evalTokens, total),
    rows: `validation rows ${total - 2 * evalTokens}:${total - evalTokens}, held-out rows ${total - evalTokens}:${total} of ${dir} (never trained on)`,
  };
}

/** Every sparse architecture at the same three L0 points (k/2, k, 2k): the k-sparse ones by
 *  their k, the penalized ones by --target-l0 (their λ steered to it during training, their
 *  code started there by --init-l0, since within this budget a dense start does not come down). */
function variants(k: number): Variant[] {
  const ks = [Math.max(1, Math.round(k / 2)), k, 2 * k];
  const byK = (arch: string): [string, Record<string, unknown>][] => ks.map((v) => [`k=${v}`, { arch, k: v }]);
  const byTarget = (arch: string, extra: Record<string, unknown> = {}): [string, Record<string, unknown>][] =>
    ks.map((v) => [`target L0=${v}`, { arch, targetL0: v, initL0: v, ...extra }]);
  return [
    { name: 'topk', settings: byK('topk') },
    { name: 'batchtopk', settings: byK('batchtopk') },
    { name: 'matryoshka', settings: byK('matryoshka') },
    { name: 'jumprelu', settings: byTarget('jumprelu') },
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

/** The λ of a run's last metrics line (a reused finished run reports no last step). */
function finalLambda(dir: string): number {
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
  const lambda = Number(JSON.parse(lines.at(-1)!).lambda);
  if (!(lambda >= 0)) throw new Error(`${dir}/metrics.jsonl: the last line has no lambda`);
  return lambda;
}

/** A tuning run, or null where the rate made it diverge (the trainer's divergence stop): a rate
 *  too high for an architecture is a result of the sweep, not a failure of the study. */
async function tuningRun(train: () => Promise<TrainResult>): Promise<TrainResult | null> {
  try {
    return await train();
  } catch (e) {
    if (e instanceof TrainingDiverged) return null;
    throw e;
  }
}

interface Summary {
  v: string;
  lrMult: number;
  /** FVU at matched L0 per seed (NaN where the seed's frontier starts above it) */
  fvus: number[];
  /** seeds whose frontier ended below L0 = k (their value is the frontier's last FVU) */
  ended: number;
  /** held-out L0 of each setting, seed 0 */
  l0s: number[];
  mmcs: number[];
}

const stats = (xs: number[]): { mean: number; lo: number; hi: number; n: number } => {
  const ok = xs.filter(Number.isFinite);
  return { mean: ok.reduce((a, b) => a + b, 0) / Math.max(ok.length, 1), lo: Math.min(...ok), hi: Math.max(...ok), n: ok.length };
};
const fmtStats = (xs: number[], ended = 0): string => {
  const s = stats(xs);
  const notes = [...(s.n < xs.length ? [`${s.n} of ${xs.length} seeds`] : []), ...(ended ? [`frontier ends below this L0 in ${ended} seed${ended > 1 ? 's' : ''}`] : [])];
  return s.n === 0 ? 'outside the frontier' : `${s.mean.toFixed(4)} [${s.lo.toFixed(4)}, ${s.hi.toFixed(4)}]${notes.length ? ` (${notes.join('; ')})` : ''}`;
};

/** One regime: tuning on validation rows, then seeds on held-out rows. */
async function regimeStudy(be: Backend, scale: Scale, out: string, r: Regime) {
  const s = SCALES[scale];
  const tokens = Math.round(s.tokens / 2);
  const base = { data: r.train, latents: s.latents, tokens, batch: s.batch };
  const lr0 = defaultLr(s.latents);
  const { validation, heldOut } = r;
  const dir = (name: string): string => runDir(out, `${r.tag}-${name}`);
  const nameOf = (v: Variant, label: string, mult: number, seed: number): string => `${v.name}-${label.replace(/[^\w.=-]/g, '')}-lr${mult}-s${seed}`;
  const run = (name: string, settings: Record<string, unknown>) => trainRun(be, dir(name), { ...base, ...settings });
  const runsTable: string[] = [];
  const summaries: Summary[] = [];
  const points: (FrontierPoint & { seed: number })[] = [];
  let probe: { sae: Sae; lambda: number } | null = null;
  for (const v of variants(s.k).filter((x) => x.name !== 'vae')) {
    // tuning: seed 0, every L0 point at every learning rate, judged on validation rows
    let best = { mult: LR_MULTS[0]!, fvu: Infinity };
    const grid = [...LR_MULTS];
    for (let g = 0; g < grid.length; g++) {
      const mult = grid[g]!;
      const pts: FrontierPoint[] = [];
      const cells: string[] = [];
      for (const [label, settings] of v.settings) {
        const res = await tuningRun(() => run(nameOf(v, label, mult, 0), { ...settings, lr: lr0 * mult, seed: 0 }));
        if (!res) { cells.push('diverged'); continue; }
        const ev = evalAt(be, res, await validation(), s.evalTokens);
        pts.push({ label, group: v.name, l0: ev.l0, fvu: ev.fvu });
        cells.push(`${ev.l0.toFixed(1)} / ${ev.fvu.toFixed(4)}`);
      }
      const m = matchedFvu(pts, s.k), f = m.fvu;
      runsTable.push(`| ${v.name} | ${mult}× | ${cells.join(' · ')} | ${Number.isFinite(f) ? `${f.toFixed(4)}${m.ended ? ' (frontier ends below)' : ''}` : '—'} |`);
      // a rate whose frontier does not reach L0 = k (NaN) never wins; none reaching it keeps the default
      if (f < best.fvu) best = { mult, fvu: f };
      if (g === grid.length - 1 && best.mult === mult && mult * 4 <= MAX_LR_MULT) grid.push(mult * 4);
    }
    // the chosen rate at every seed, on held-out rows
    const sum: Summary = { v: v.name, lrMult: best.mult, fvus: [], ended: 0, l0s: [], mmcs: [] };
    for (const seed of SEEDS) {
      const pts: FrontierPoint[] = [];
      for (const [label, settings] of v.settings) {
        const name = nameOf(v, label, best.mult, seed);
        const res = await run(name, { ...settings, lr: lr0 * best.mult, seed });
        const ev = evalAt(be, res, await heldOut(), s.evalTokens);
        pts.push({ label, group: v.name, l0: ev.l0, fvu: ev.fvu });
        points.push({ label, group: v.name, l0: ev.l0, fvu: ev.fvu, seed });
        if (seed === 0) sum.l0s.push(ev.l0);
        if ((settings.k ?? settings.targetL0) === s.k && ev.mmcs !== undefined) sum.mmcs.push(ev.mmcs);
        if (v.name === 'jumprelu' && settings.targetL0 === s.k && seed === 0) probe = { sae: res.sae, lambda: finalLambda(dir(name)) };
      }
      const m = matchedFvu(pts, s.k);
      sum.fvus.push(m.fvu);
      if (m.ended) sum.ended++;
    }
    summaries.push(sum);
  }
  const vae = [];
  for (const seed of SEEDS) vae.push(evalAt(be, await run(`vae-s${seed}`, { arch: 'vae', vaeNoise: 0.1, seed }), await heldOut(), s.evalTokens));
  return { base, tokens, runsTable, summaries, points, probe, vae };
}

/** Whether a is at most b at matched L0, judged by the seed ranges. */
function ordering(a: Summary | undefined, b: Summary | undefined): string {
  if (!a || !b) return 'not measured';
  const sa = stats(a.fvus), sb = stats(b.fvus);
  if (!sa.n || !sb.n) return 'not comparable (a frontier does not reach the matched L0)';
  const verdict = sa.hi < sb.lo ? 'lower' : sa.lo > sb.hi ? 'higher' : 'within the seed ranges of each other';
  return `${a.v} ${sa.mean.toFixed(4)} vs ${b.v} ${sb.mean.toFixed(4)}: ${verdict}${verdict === 'higher' || verdict === 'lower' ? ` (${a.v} is ${verdict})` : ''}`;
}

/** The mean of the values as text, or "—" when there are none (real data has no MMCS). */
const meanOrDash = (xs: number[]): string => (xs.length ? stats(xs).mean.toFixed(4) : '—');

export async function architecturesExperiment(be: Backend, scale: Scale, out: string, o: { real?: string } = {}): Promise<string> {
  const s = SCALES[scale];
  const sections: string[] = [];
  const allPoints: { architecture: string; l0: number; fvu: number }[] = [];
  let probeLine = '';
  const all = [...syntheticRegimes(be, scale), ...(o.real ? [realRegime(be, o.real, s.evalTokens)] : [])];
  for (const r of all) {
    const tag = r.tag;
    const st = await regimeStudy(be, scale, out, r);
    // one point per architecture and L0 setting: the mean over seeds
    const cells = new Map<string, { l0: number[]; fvu: number[]; group: string }>();
    for (const p of st.points) {
      const c = cells.get(`${p.group}|${p.label}`) ?? { l0: [], fvu: [], group: p.group };
      c.l0.push(p.l0);
      c.fvu.push(p.fvu);
      cells.set(`${p.group}|${p.label}`, c);
    }
    for (const c of cells.values()) allPoints.push({ architecture: `${c.group} (${tag})`, l0: stats(c.l0).mean, fvu: stats(c.fvu).mean });
    const by = (name: string): Summary | undefined => st.summaries.find((x) => x.v === name);
    const vaeF = stats(st.vae.map((e) => e.fvu)), vaeM = meanOrDash(st.vae.flatMap((e) => (e.mmcs === undefined ? [] : [e.mmcs])));
    sections.push(`## ${r.name}: \`${st.base.data}\``, '',
      `${s.latents} latents, ${st.tokens} tokens in batches of ${s.batch} for every run; learning rate tuned over ${LR_MULTS.map((m) => `${m}×`).join(', ')} the default (${defaultLr(s.latents).toExponential(2)}; and ×4 more while the best was the largest tried) on seed 0 by FVU at L0 = ${s.k} on validation rows; then seeds ${SEEDS.join(', ')} at the chosen rate, evaluated on ${s.evalTokens} held-out rows (${r.rows}).`, '',
      `| architecture | chosen lr | FVU at L0 = ${s.k}: mean [min, max] over seeds | held-out L0 of the three points (seed 0) | MMCS at L0 ≈ ${s.k} (mean) |`, '|---|---|---|---|---|',
      ...st.summaries.map((x) => `| ${x.v} | ${x.lrMult}× | ${fmtStats(x.fvus, x.ended)} | ${x.l0s.map((v) => v.toFixed(1)).join(' / ')} | ${meanOrDash(x.mmcs)} |`),
      `| vae (dense, L0 = ${s.latents}) | 1× | FVU ${vaeF.mean.toFixed(4)} [${vaeF.lo.toFixed(4)}, ${vaeF.hi.toFixed(4)}] with z = μ | — | ${vaeM} |`, '',
      'Literature ordering at matched L0:', '',
      `- BatchTopK <= TopK (Bussmann et al. 2024): ${ordering(by('batchtopk'), by('topk'))}`,
      `- JumpReLU ≈ TopK (Rajamanoharan et al. 2024; Gao et al. 2024): ${ordering(by('jumprelu'), by('topk'))}`,
      `- Matryoshka vs BatchTopK: ${ordering(by('matryoshka'), by('batchtopk'))}`,
      `- ReLU + L1 vs TopK: ${ordering(by('relu'), by('topk'))}`, '',
      '<details><summary>tuning runs (seed 0, validation rows): L0 / FVU at k/2, k, 2k, and FVU at matched L0</summary>', '',
      '| architecture | lr | L0 / FVU per point | FVU at L0 = ' + s.k + ' |', '|---|---|---|---|', ...st.runsTable, '', '</details>', '');
    // the threshold-gradient probe, at the trained parameters of the high-interference JumpReLU run at L0 = k
    if (tag === 'high' && st.probe && r.synthetic) {
      const p = thresholdGradientVariance(be, st.probe.sae, new SyntheticSource({ ...r.synthetic, stream: 3 }, be), s.batch, 200, st.probe.lambda, 0.05);
      probeLine = `JumpReLU threshold gradient at fixed parameters (the high-interference target-L0 = ${s.k} run, seed 0, at its final λ = ${st.probe.lambda.toPrecision(3)}, ε = 0.05, ${s.batch}-row batches, 200 batches after burn-in, ${p.latents} latents with a nonzero per-batch variance): variance(persistent KDE, decay ${KDE_DECAY}) / variance(per batch) = ${p.ratio.toFixed(4)}.`;
    }
  }
  await writeSvg(join(out, 'frontier.svg'), lineSpec(allPoints,
    { x: 'l0', y: 'fvu', series: 'architecture', title: 'MSE–L0 by architecture and regime (held-out rows, mean over seeds)', xTitle: 'L0 (log)', yTitle: 'FVU (log)', logX: true, logY: true }));
  const report = [`# Architectures compared fairly (${scale})`, '',
    'BatchTopK and Matryoshka are evaluated with their inference threshold; the VAE with z = μ. JumpReLU and ReLU start at each L0 point (--init-l0), are steered to it by --target-l0, and encode x (not x − b_dec).', '',
    ...sections, probeLine, '', '![frontier](frontier.svg)', ''].join('\n');
  writeFileAtomic(join(out, 'report.md'), [report]);
  return report;
}
