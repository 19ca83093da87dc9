/**
 * Shuffling (docs/design.md §5): synthetic documents whose active features drift slowly (each stays
 * active into the next row with probability `persist`), so consecutive rows are correlated
 * as in an unshuffled LM stream. Training without shuffling vs shuffle buffers of several
 * sizes; held-out FVU (on document-mixed data) every 10% of training; tokens needed to reach
 * a target FVU (1.1× the best final FVU), so the cost of not shuffling is a number.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { ShuffleBuffer } from '../data/shuffle.js';
import { evaluateSae } from '../eval/metrics.js';
import { lineSpec, writeSvg } from '../eval/plots.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import { parseTrainConfig } from '../train/config.js';
import { train } from '../train/trainer.js';
import { heldOutSynthetic, runDir, SCALES, synthSpec, type Scale } from './common.js';

export async function shuffleExperiment(be: Backend, scale: Scale, out: string): Promise<string> {
  const s = SCALES[scale];
  const docs = { ...s.data, docLen: 4 * s.batch, persist: 0.98 };
  const base = { data: synthSpec(docs), latents: s.latents, k: s.k, tokens: 2 * s.tokens, batch: s.batch };
  const buffers: ('none' | number)[] = ['none', s.batch, 8 * s.batch, 32 * s.batch];
  const steps = Math.ceil(base.tokens / base.batch), segment = Math.ceil(steps / 10);
  const curves: { shuffle: string; tokens: number; fvu: number }[] = [];
  for (const shuffle of buffers) {
    const dir = runDir(out, `shuffle-${shuffle}`);
    const curvePath = join(dir, 'curve.json');
    let curve = existsSync(curvePath) ? (readJsonFile(curvePath) as { tokens: number; fvu: number }[]) : null;
    if (!curve) {
      curve = [];
      const cfg = parseTrainConfig({ ...base, shuffle }, dir);
      for (;;) {
        const res = await train(be, cfg, { out: dir, resume: true, stopAfterSteps: segment });
        // held-out rows of other documents, mixed across documents by a large buffer
        const heldOut = new ShuffleBuffer(heldOutSynthetic(be, docs), 32 * s.batch, 7);
        curve.push({ tokens: res.tokens, fvu: evaluateSae(be, res.sae, heldOut, s.evalTokens).fvu });
        if (res.finished) break;
      }
      writeJsonAtomic(curvePath, curve);
    }
    for (const c of curve) curves.push({ shuffle: String(shuffle), ...c });
  }
  const finals = buffers.map((b) => curves.filter((c) => c.shuffle === String(b)).at(-1)!.fvu);
  const target = 1.1 * Math.min(...finals);
  const reach = (b: string): number | null => curves.find((c) => c.shuffle === b && c.fvu <= target)?.tokens ?? null;
  const best = Math.min(...buffers.map((b) => reach(String(b)) ?? Infinity));
  const table = ['| shuffle buffer (rows) | final held-out FVU | tokens to reach FVU ≤ ' + target.toFixed(4) + ' | relative to the fastest |', '|---|---|---|---|'];
  buffers.forEach((b, i) => {
    const r = reach(String(b));
    table.push(`| ${b} | ${finals[i]!.toFixed(4)} | ${r ?? `not reached in ${base.tokens}`} | ${r ? (r / best).toFixed(2) + '×' : '–'} |`);
  });
  await writeSvg(join(out, 'shuffle.svg'), lineSpec(curves, { x: 'tokens', y: 'fvu', series: 'shuffle', title: 'held-out FVU during training, by shuffle buffer', xTitle: 'training tokens', yTitle: 'held-out FVU (log)', logY: true }));
  const report = [`# Shuffling (${scale})`, '',
    `Data \`${base.data}\`: documents of ${docs.docLen} rows read in order; within a document an active feature stays active into the next row with probability ${docs.persist}. ${s.latents} latents, k=${s.k}, ${base.tokens} tokens in batches of ${s.batch}; held-out FVU on ${s.evalTokens} tokens mixed across documents, every ${segment} steps.`, '',
    ...table, '', '![held-out FVU](shuffle.svg)', ''].join('\n');
  writeFileAtomic(join(out, 'report.md'), [report]);
  return report;
}
