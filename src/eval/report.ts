/** The end-of-run report: eval.json, loss.svg, density.svg and report.md in the run folder. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import type { ActivationSource } from '../data/source.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import type { Sae } from '../sae/common.js';
import { evaluateSae, type EvalResult } from './metrics.js';
import { densitySpec, lossCurveSpec, writeSvg } from './plots.js';

export type EvalSummary = Omit<EvalResult, 'density'>;

export function summary(r: EvalResult): EvalSummary {
  const { density: _density, ...rest } = r;
  return rest;
}

export function formatSummary(r: EvalSummary): string {
  const lines = [
    `  FVU                 ${r.fvu.toFixed(5)}`,
    `  normalized MSE      ${r.normalized_mse.toFixed(5)}  (OpenAI: mean ||x − x̂||² / ||x||²)`,
    `  L0                  ${r.l0.toFixed(2)}`,
    `  dead fraction       ${(100 * r.dead_fraction).toFixed(2)}%  (never fired in ${r.tokens} tokens)`,
  ];
  if (r.next_preact) lines.push(`  (k+1)-th pre-act    mean ${r.next_preact.mean.toFixed(4)}, positive in ${(100 * r.next_preact.positive_fraction).toFixed(1)}% of tokens`);
  if (r.mmcs !== undefined) lines.push(`  MMCS (ground truth) ${r.mmcs.toFixed(4)}  (${(100 * (r.recovered_09 ?? 0)).toFixed(1)}% of true features with cosine > 0.9)`);
  return lines.join('\n');
}

export async function writeReport(be: Backend, runDir: string, sae: Sae, evalSource: ActivationSource, evalTokens: number): Promise<EvalSummary> {
  const res = evaluateSae(be, sae, evalSource, evalTokens);
  const s = summary(res);
  writeJsonAtomic(join(runDir, 'eval.json'), { data: evalSource.description, ...s });
  const metricsPath = join(runDir, 'metrics.jsonl');
  const rows = existsSync(metricsPath)
    ? readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { tokens: number; fvu: number; dead_fraction: number })
    : [];
  await writeSvg(join(runDir, 'loss.svg'), lossCurveSpec(rows, `${sae.cfg.arch} SAE n=${sae.cfg.n}${sae.cfg.k ? ` k=${sae.cfg.k}` : ''}${sae.cfg.dOut ? ` (transcoder to ${sae.cfg.dOut})` : ''}: training`));
  await writeSvg(join(runDir, 'density.svg'), densitySpec(res.density, 'latent firing density'));
  writeFileAtomic(join(runDir, 'report.md'), [
    `# ${sae.cfg.arch} SAE: d=${sae.cfg.d}, n=${sae.cfg.n}, k=${sae.cfg.k}\n\n`,
    `Trained on \`${sae.cfg.data}\`; evaluated on ${res.tokens} tokens of \`${evalSource.description}\`.\n\n`,
    '```\n', formatSummary(s), '\n```\n\n',
    '![training curves](loss.svg)\n\n![firing density](density.svg)\n',
  ]);
  return s;
}
