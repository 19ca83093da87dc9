/**
 * Splitting vs discovery across dictionary sizes, scored against a hierarchical synthetic
 * source (parents that emit one of their children), then stitching (docs/design.md §4.9). Two SAEs of
 * different sizes on the same data; the larger one's latents are classified by decoder
 * cosine (proxy) and by activation correlation, the proxy is scored against truth and checked
 * by the insertion test, and stitched dictionaries are compared with their inputs.
 */
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { activationCorrelation, matchScales, scoreAgainstTruth } from '../analysis/matching.js';
import { insertionTest, stitch } from '../analysis/stitch.js';
import { MemorySource } from '../data/memory.js';
import { evaluateSae } from '../eval/metrics.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveSae } from '../sae/folder.js';
import { heldOutSynthetic, runDir, SCALES, synthSpec, trainRun, type Scale } from './common.js';

export async function scalesExperiment(be: Backend, scale: Scale, out: string): Promise<string> {
  const s = SCALES[scale];
  const parents = scale === 'tiny' ? 16 : scale === 'small' ? 128 : 512;
  const data = { d: s.data.d!, features: parents, children: 3, childSpread: 0.75, active: 4, alpha: 1 };
  const sizes = [parents / 2, parents * 4];
  const base = { data: synthSpec(data), k: 4, tokens: Math.round(1.5 * s.tokens), batch: s.batch };
  const saes = [];
  for (const n of sizes) saes.push((await trainRun(be, runDir(out, `n${n}`), { ...base, latents: n })).sae);
  const [sm, lg] = [saes[0]!, saes[1]!];
  const source = heldOutSynthetic(be, data);
  const held = MemorySource.take(source, s.evalTokens);
  const m = matchScales(be, sm, lg);
  const corr = activationCorrelation(be, sm, lg, held.rewind(), held.length);
  const agree = Array.from(m.parent).filter((p, j) => m.cls[j] !== 'discovered' && corr.idx[j] === p).length / Math.max(1, m.cls.filter((c) => c !== 'discovered').length);
  const score = scoreAgainstTruth(be, sm, lg, source.truth, m.cls);
  const ins = insertionTest(be, sm, lg, m, held);
  const rows: string[] = ['| dictionary | latents | L0 | FVU |', '|---|---|---|---|'];
  const evalRow = (name: string, sae: typeof sm) => {
    const ev = evaluateSae(be, sae, held.rewind(), held.length);
    rows.push(`| ${name} | ${sae.cfg.n} | ${ev.l0.toFixed(2)} | ${ev.fvu.toFixed(4)} |`);
  };
  evalRow(`small (n=${sizes[0]})`, sm);
  for (const mode of ['add-discovered', 'swap-splits', 'both'] as const) {
    const st = stitch(sm, lg, m, mode);
    saveSae(join(out, `stitched-${mode}`), st);
    evalRow(`stitched: ${mode}`, st);
  }
  evalRow(`large (n=${sizes[1]})`, lg);
  const pct = (x: number) => (Number.isNaN(x) ? '–' : `${(100 * x).toFixed(1)}%`);
  const report = [`# Splitting vs discovery, and stitching (${scale})`, '',
    `Data \`${base.data}\`: ${parents} parent features, each firing as one of 3 children (cos to parent 0.8, to a sibling 0.64), power-law firing (alpha 1). TopK SAEs with k=4 and ${sizes.join(' and ')} latents, ${base.tokens} tokens each; evaluation on ${s.evalTokens} held-out tokens.`, '',
    `## Classification of the ${sizes[1]} larger-SAE latents (decoder-cosine proxy, novel below 0.6)`, '',
    '| class | predicted fraction | true count | precision | recall |', '|---|---|---|---|---|',
    `| split | ${pct(m.fractions.split)} | ${score.counts.split} | ${pct(score.precision.split)} | ${pct(score.recall.split)} |`,
    `| discovered | ${pct(m.fractions.discovered)} | ${score.counts.discovered} | ${pct(score.precision.discovered)} | ${pct(score.recall.discovered)} |`,
    `| kept | ${pct(m.fractions.kept)} | ${score.counts.kept} | | |`, '',
    `Activation correlation agrees with the decoder-cosine parent for ${pct(agree)} of the non-discovered latents. ${score.truth.filter((t) => t === null).length} latents match no true feature (cos < 0.8) and are not scored.`, '',
    `## Insertion test (base FVU of the small SAE ${ins.baseFvu.toFixed(4)})`, '',
    '| class | latents inserted one at a time | mean ΔFVU | fraction lowering FVU |', '|---|---|---|---|',
    ...(['discovered', 'split', 'kept'] as const).map((c) => `| ${c} | ${ins.byClass[c].tried} | ${ins.byClass[c].meanDelta.toFixed(5)} | ${pct(ins.byClass[c].lowered)} |`), '',
    '## Stitched dictionaries (all at the same k, so compared at matched L0)', '', ...rows, ''].join('\n');
  writeFileAtomic(join(out, 'report.md'), [report]);
  return report;
}
