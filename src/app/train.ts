/**
 * Train-then-report, the job behind `saekit train`, `quickstart`, each sweep run and each
 * experiment run: resolve the run's configuration (one resolver for the banner, the trainer
 * and the final evaluation), train, evaluate on the held-out part of the run's data, write
 * eval.json, the plots and report.md.
 */
import type { Backend } from '../compute/backend.js';
import { evaluationData, openData } from '../data/spec.js';
import type { ActivationSource } from '../data/source.js';
import { writeReport, type EvalSummary } from '../eval/report.js';
import { archOptions, type TrainConfig } from '../train/config.js';
import { readRunConfig, resolveRunConfig } from '../train/run-config.js';
import { train, type TrainResult } from '../train/trainer.js';

export interface TrainJob {
  /** training settings as given (flags, a sweep's grid point, an experiment's settings) */
  settings: Record<string, unknown>;
  out: string;
  resume: boolean;
  /** held-out tokens for the final evaluation */
  evalTokens: number;
  /** held-out data other than the training data's held-out part */
  evalData?: string;
  progress?: boolean;
  signal?: AbortSignal;
  /** one line per event (the banner); default: nothing */
  log?: (line: string) => void;
  /** where the settings came from, for error messages */
  where?: string;
}

export interface TrainJobResult {
  cfg: TrainConfig;
  train: TrainResult;
  /** the held-out evaluation (absent when training stopped early) */
  summary?: EvalSummary;
}

/** One line naming what will train, from the resolved configuration. */
export function banner(cfg: TrainConfig, backend: string): string {
  const opts = Object.entries(archOptions(cfg)).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(', ');
  return `saekit: training ${cfg.arch} ${cfg.transcode ? 'transcoder' : 'SAE'} on ${cfg.data}: ${cfg.latents} latents${opts ? ` (${opts})` : ''}, ` +
    `${cfg.tokens} tokens in batches of ${cfg.batch} (backend ${backend})`;
}

/** The held-out rows a run is evaluated on: evalData as given, else the held-out part of its data. */
export async function heldOutSource(be: Backend, data: string, tokens: number, evalData?: string): Promise<ActivationSource> {
  const { spec } = evalData ? evaluationData(evalData, tokens, false, '--eval-data') : evaluationData(data, tokens, true);
  return openData(spec, be);
}

export async function trainAndReport(be: Backend, job: TrainJob): Promise<TrainJobResult> {
  const { cfg, resuming } = resolveRunConfig(job.settings, job.out, job.resume, job.where);
  job.log?.(banner(cfg, be.name) + (resuming ? ` — resuming ${job.out}` : ''));
  const res = await train(be, cfg, { out: job.out, resume: job.resume, progress: job.progress, signal: job.signal });
  if (!res.finished) return { cfg, train: res };
  const held = await heldOutSource(be, res.sae.cfg.data, job.evalTokens, job.evalData);
  const resolved = readRunConfig(job.out)?.resolved;
  const training = { dead_fraction: res.last?.dead_fraction ?? 0, dead_window: Number(resolved?.dead_tokens_effective ?? 0), tokens: res.tokens, budget: cfg.tokens };
  const summary = await writeReport(be, job.out, res.sae, held, job.evalTokens, training);
  return { cfg, train: res, summary };
}
