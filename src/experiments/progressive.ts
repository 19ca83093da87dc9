/**
 * Progressive codes (Gao et al. §5.3): one Multi-TopK SAE (trained with L(k) + L(4k)/8)
 * evaluated at k' ∈ {k/4, k/2, k, 2k, 4k}, against TopK SAEs trained at each k' on the same
 * data and tokens, and against the plain TopK SAE trained at k evaluated at k'. Also the
 * (k+1)-th pre-activation of the TopK SAEs: is it still substantially positive?
 */
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { lineSpec, writeSvg } from '../eval/plots.js';
import { writeFileAtomic } from '../io/atomic.js';
import { evalAt, runDir, SCALES, synthSpec, heldOutSynthetic, trainRun, type Scale } from './common.js';

export async function progressiveExperiment(be: Backend, scale: Scale, out: string): Promise<string> {
  const s = SCALES[scale];
  const base = { data: synthSpec(s.data), latents: s.latents, tokens: s.tokens, batch: s.batch };
  const ks = [s.k / 4, s.k / 2, s.k, 2 * s.k, 4 * s.k].map((v) => Math.max(1, Math.round(v)));
  const heldOut = () => heldOutSynthetic(be, s.data);
  const rows: { series: string; k: number; l0: number; fvu: number; next?: string }[] = [];
  const multi = await trainRun(be, runDir(out, `multitopk-k${s.k}`), { ...base, k: s.k, multiTopK: true });
  const topkAtK = await trainRun(be, runDir(out, `topk-k${s.k}`), { ...base, k: s.k });
  for (const k of ks) {
    const m = evalAt(be, multi, heldOut(), s.evalTokens, k);
    rows.push({ series: `Multi-TopK trained at k=${s.k}`, k, l0: m.l0, fvu: m.fvu });
    const t = evalAt(be, topkAtK, heldOut(), s.evalTokens, k);
    rows.push({ series: `TopK trained at k=${s.k}`, k, l0: t.l0, fvu: t.fvu });
    const own = k === s.k ? topkAtK : await trainRun(be, runDir(out, `topk-k${k}`), { ...base, k });
    const o = evalAt(be, own, heldOut(), s.evalTokens);
    const np = o.next_preact!;
    rows.push({ series: 'TopK trained at each k\'', k, l0: o.l0, fvu: o.fvu, next: `${np.mean.toFixed(4)} (positive in ${(100 * np.positive_fraction).toFixed(1)}%, p10 ${np.p10.toFixed(3)}, p90 ${np.p90.toFixed(3)})` });
  }
  await writeSvg(join(out, 'progressive.svg'), lineSpec(rows, { x: 'k', y: 'fvu', series: 'series', title: 'FVU when evaluated at k\'', xTitle: 'k\' (log)', yTitle: 'FVU (log)', logX: true, logY: true }));
  const table = ['| k\' | Multi-TopK (trained at k) | TopK trained at k | TopK trained at k\' | (k\'+1)-th pre-activation of TopK trained at k\' |', '|---|---|---|---|---|'];
  for (const k of ks) {
    const get = (prefix: string) => rows.find((r) => r.k === k && r.series.startsWith(prefix))!;
    const own = get('TopK trained at each');
    table.push(`| ${k} | ${get('Multi-TopK').fvu.toFixed(4)} | ${get(`TopK trained at k=`).fvu.toFixed(4)} | ${own.fvu.toFixed(4)} | ${own.next} |`);
  }
  const report = [`# Progressive codes (${scale})`, '',
    `Data \`${base.data}\`, ${s.latents} latents, ${s.tokens} tokens in batches of ${s.batch}, k=${s.k}; FVU on ${s.evalTokens} held-out tokens.`, '',
    ...table, '', '![FVU at k\'](progressive.svg)', ''].join('\n');
  writeFileAtomic(join(out, 'report.md'), [report]);
  return report;
}
