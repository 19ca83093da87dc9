/** The end-of-run report: eval.json, loss.svg, density.svg and report.md in the run folder. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import type { ActivationSource } from '../data/source.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import type { Sae } from '../sae/common.js';
import { evaluateSae, type EvalResult } from './metrics.js';
import { densitySpec, lossCurveSpec, writeSvg, type LossRow } from './plots.js';

export type EvalSummary = Omit<EvalResult, 'density'> & {
  /** the trainer's dead fraction at the end of training: no firing in its last `dead_window` tokens */
  dead_fraction?: number;
  dead_window?: number;
  /** tokens the run trained on (a window longer than this counts no latent as dead) */
  trained_tokens?: number;
  /** see evalWarnings */
  warnings?: string[];
};

/** eval.json, as this version or 0.1 wrote it (0.1 called the never-fired fraction "dead_fraction"). */
export function readEvalSummary(path: string): EvalSummary {
  const raw = readJsonObject(path) as Record<string, unknown>;
  if (raw.never_fired_fraction === undefined && typeof raw.dead_fraction === 'number' && raw.dead_window === undefined) {
    const { dead_fraction, ...rest } = raw;
    return { ...rest, never_fired_fraction: dead_fraction } as unknown as EvalSummary;
  }
  return raw as unknown as EvalSummary;
}

/** The logged steps of a run (metrics.jsonl), sampled evenly to at most `max` (the last kept);
 *  a line cut short by a writer still at work is left out. */
export function metricRows(runDir: string, max = 2000): LossRow[] {
  const path = join(runDir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  const rows: LossRow[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      rows.push(JSON.parse(line) as LossRow);
    } catch {
      // the last line of a run in progress may be half written
    }
  }
  const every = Math.max(1, Math.ceil(rows.length / max));
  return rows.filter((_, i) => i % every === 0 || i === rows.length - 1);
}

export function summary(r: EvalResult): EvalSummary {
  const { density: _density, ...rest } = r;
  return rest;
}

export function formatSummary(r: EvalSummary): string {
  const lines = [
    `  FVU                 ${r.fvu.toFixed(5)}${r.fvu_layers ? `  (each layer: ${r.fvu_layers.map((v) => v.toFixed(4)).join(', ')})` : ''}`,
    `  normalized MSE      ${r.normalized_mse.toFixed(5)}  (OpenAI: mean ||x − x̂||² / ||x||²)`,
    `  L0                  ${r.l0.toFixed(2)}`,
    `  never fired         ${(100 * r.never_fired_fraction).toFixed(2)}%  of latents, in the ${r.tokens} evaluated tokens`,
  ];
  if (r.dead_fraction !== undefined) {
    lines.push(r.trained_tokens !== undefined && r.dead_window! > r.trained_tokens
      ? `  dead (training)     none can be: the dead window (${r.dead_window} tokens, --dead-tokens) is longer than the ${r.trained_tokens} tokens trained`
      : `  dead (training)     ${(100 * r.dead_fraction).toFixed(2)}%  of latents, no firing in the last ${r.dead_window} training tokens`);
  }
  if (r.next_preact) lines.push(`  (k+1)-th pre-act    mean ${r.next_preact.mean.toFixed(4)}, positive in ${(100 * r.next_preact.positive_fraction).toFixed(1)}% of tokens`);
  if (r.mmcs !== undefined) lines.push(`  MMCS (ground truth) ${r.mmcs.toFixed(4)}  (${(100 * (r.recovered_09 ?? 0)).toFixed(1)}% of true features with cosine > 0.9)`);
  for (const w of r.warnings ?? []) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}

/** How a training run ended, for the report. */
export interface TrainingEnd {
  /** the trainer's dead fraction and its window (tokens) */
  dead_fraction: number;
  dead_window: number;
  tokens: number;
  budget: number;
  /** false when the evaluation may read rows the run trained on */
  held_out: boolean;
}

/** What a researcher must not miss about these numbers. */
export function evalWarnings(s: EvalSummary, o: { training?: TrainingEnd; downstream?: { ce_recovered: number }; siteMismatch?: string } = {}): string[] {
  const w: string[] = [];
  if (o.siteMismatch) w.push(o.siteMismatch);
  if (s.fvu > 1) w.push(`FVU ${s.fvu.toFixed(3)} > 1: the reconstruction is worse than predicting the mean`);
  const t = o.training;
  if (t && !t.held_out) w.push('evaluated on rows the run may have trained on (the data has no held-out part: pass --eval-data)');
  if (t && t.tokens < t.budget) w.push(`the data ended after ${t.tokens} of the ${t.budget} tokens asked for (the learning-rate schedule was fitted to the rows it holds)`);
  if (o.downstream && o.downstream.ce_recovered > 1) w.push(`CE recovered ${(100 * o.downstream.ce_recovered).toFixed(1)}% > 100%: the spliced model beats the clean one on this text; read the KL instead`);
  return w;
}

export async function writeReport(be: Backend, runDir: string, sae: Sae, evalSource: ActivationSource, evalTokens: number, training?: TrainingEnd): Promise<EvalSummary> {
  const res = evaluateSae(be, sae, evalSource, evalTokens);
  const base = summary(res);
  const s: EvalSummary = training ? { ...base, dead_fraction: training.dead_fraction, dead_window: training.dead_window, trained_tokens: training.tokens } : base;
  const warnings = evalWarnings(s, { training });
  if (warnings.length) s.warnings = warnings;
  writeJsonAtomic(join(runDir, 'eval.json'), { data: evalSource.description, ...s });
  await writeSvg(join(runDir, 'loss.svg'), lossCurveSpec(metricRows(runDir), `${sae.cfg.arch} SAE n=${sae.cfg.n}${sae.cfg.k ? ` k=${sae.cfg.k}` : ''}${sae.cfg.dOut ? ` (transcoder to ${sae.cfg.dOut})` : ''}: training`));
  await writeSvg(join(runDir, 'density.svg'), densitySpec(res.density, 'latent firing density'));
  writeFileAtomic(join(runDir, 'report.md'), [
    `# ${sae.cfg.arch} SAE: d=${sae.cfg.d}, n=${sae.cfg.n}, k=${sae.cfg.k}\n\n`,
    `Trained on \`${sae.cfg.data}\`; evaluated on ${res.tokens} tokens of \`${evalSource.description}\`.\n\n`,
    '```\n', formatSummary(s), '\n```\n\n',
    '![training curves](loss.svg)\n\n![firing density](density.svg)\n',
  ]);
  return s;
}
