/**
 * Encoder init (docs/design.md §4.1): encoder = decoder transpose vs an independent random encoder.
 * AuxK off, so dead latents are left as the init makes them; a latent is dead after
 * tokens/20 without firing. Dead fraction over training and each init's MSE–L0 frontier.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { compareAtMatchedL0, paretoFrontier, type FrontierPoint } from '../eval/frontier.js';
import { lineSpec, writeSvg } from '../eval/plots.js';
import { writeFileAtomic } from '../io/atomic.js';
import { evalAt, runDir, SCALES, synthSpec, heldOutSynthetic, trainRun, type Scale } from './common.js';

export async function initExperiment(be: Backend, scale: Scale, out: string): Promise<string> {
  const s = SCALES[scale];
  const base = { data: synthSpec(s.data), latents: s.latents, tokens: s.tokens, batch: s.batch, kAux: 0, deadTokens: Math.floor(s.tokens / 20) };
  const ks = [s.k / 2, s.k, 2 * s.k].map((v) => Math.max(1, Math.round(v)));
  const points: FrontierPoint[] = [];
  const curves: { run: string; tokens: number; dead: number }[] = [];
  const table = ['| init | k | L0 | FVU | dead at end of training | max dead during training | never fired on held-out | MMCS |', '|---|---|---|---|---|---|---|---|'];
  for (const init of ['transpose', 'random'] as const) {
    for (const k of ks) {
      const dir = runDir(out, `${init}-k${k}`);
      const res = await trainRun(be, dir, { ...base, k, encoderInit: init });
      const ev = evalAt(be, res, heldOutSynthetic(be, s.data), s.evalTokens);
      const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tokens: number; dead_fraction: number });
      for (const m of metrics) curves.push({ run: `${init}, k=${k}`, tokens: m.tokens, dead: m.dead_fraction });
      points.push({ label: dir, group: init, l0: ev.l0, fvu: ev.fvu });
      const maxDead = Math.max(...metrics.map((m) => m.dead_fraction));
      table.push(`| ${init} | ${k} | ${ev.l0.toFixed(2)} | ${ev.fvu.toFixed(4)} | ${(100 * metrics.at(-1)!.dead_fraction).toFixed(2)}% | ${(100 * maxDead).toFixed(2)}% | ${(100 * ev.never_fired_fraction).toFixed(2)}% | ${ev.mmcs!.toFixed(4)} |`);
    }
  }
  const ft = paretoFrontier(points.filter((p) => p.group === 'transpose')), fr = paretoFrontier(points.filter((p) => p.group === 'random'));
  const cmp = compareAtMatchedL0('transpose', ft, 'random', fr);
  await writeSvg(join(out, 'dead.svg'), lineSpec(curves, { x: 'tokens', y: 'dead', series: 'run', title: 'dead fraction during training (AuxK off)', xTitle: 'training tokens', yTitle: 'dead fraction' }));
  await writeSvg(join(out, 'frontier.svg'), lineSpec(points.map((p) => ({ init: p.group, l0: p.l0, fvu: p.fvu })), { x: 'l0', y: 'fvu', series: 'init', title: 'MSE–L0 frontier by encoder init', xTitle: 'L0 (log)', yTitle: 'FVU (log)', logX: true, logY: true }));
  const verdict = cmp.range
    ? `At matched L0 (${cmp.range[0].toFixed(1)}–${cmp.range[1].toFixed(1)}) FVU(transpose) / FVU(random) = ${cmp.geoMeanRatio.toFixed(3)} (geometric mean).`
    : 'The two frontiers share no L0 range.';
  const report = [`# Encoder init: decoder transpose vs random (${scale})`, '',
    `Data \`${base.data}\`, ${s.latents} latents, ${s.tokens} tokens in batches of ${s.batch}, AuxK off, dead after ${base.deadTokens} tokens without firing; evaluated on ${s.evalTokens} held-out tokens.`, '',
    ...table, '', verdict, '', '![dead fraction](dead.svg)', '', '![frontier](frontier.svg)', ''].join('\n');
  writeFileAtomic(join(out, 'report.md'), [report]);
  return report;
}
