/**
 * Train-then-report, the job behind `saekit train`, `quickstart`, each sweep run and each
 * experiment run: resolve the run's configuration (one resolver for the banner, the trainer
 * and the final evaluation), train, evaluate on the held-out part of the run's data, write
 * eval.json, the plots and report.md.
 */
import type { Backend } from '../compute/backend.js';
import type { Comm } from '../compute/comm.js';
import { readManifest } from '../data/shards.js';
import { evaluationData, formatDataSpec, openData, parseDataSpec } from '../data/spec.js';
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
  /** this process is one rank of an MPI job (rank 0 evaluates and reports) */
  comm?: Comm;
  /** how the ranks split the training (default data) */
  parallel?: 'data' | 'latents';
  /** the training rows instead of opening settings.data (which then describes them): called
   *  with the run's configuration once for the training stream and, on a fresh start, once more
   *  for the init sample (--layers: a reader of a forward shared with the other layers) */
  source?: (cfg: TrainConfig) => ActivationSource | Promise<ActivationSource>;
  /** the progress bar's label (default "train") */
  label?: string;
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
  return `saekit: training ${cfg.arch} ${cfg.transcode ? 'transcoder' : 'SAE'} on ${cfg.data}: ${cfg.latents ?? `${cfg.expansion} × d`} latents${opts ? ` (${opts})` : ''}, ` +
    `${cfg.tokens} tokens in batches of ${cfg.batch} (backend ${backend})`;
}

/** The held-out rows a run is evaluated on: evalData as given, else the held-out part of its
 *  data; heldOut is false when they may be rows the run trained on. */
export async function heldOutSource(be: Backend, data: string, tokens: number, evalData?: string): Promise<{ source: ActivationSource; heldOut: boolean }> {
  const { spec, heldOutPart } = evalData ? evaluationData(evalData, tokens, false, '--eval-data') : evaluationData(data, tokens, true);
  return { source: await openData(spec, be), heldOut: Boolean(evalData) || heldOutPart };
}

/**
 * Shards or a file named without a row range: the run trains on all but the last `evalTokens`
 * rows and its final evaluation reads those (the held-out rule, docs/design.md §5.1). Data
 * too small to spare them (fewer than 4× the evaluation's rows) is trained on whole, and the
 * report warns that its evaluation reads training rows.
 */
export function reserveHeldOutTail(settings: Record<string, unknown>, evalTokens: number, evalData?: string): { settings: Record<string, unknown>; note?: string } {
  if (evalData || typeof settings.data !== 'string') return { settings };
  const spec = parseDataSpec(settings.data);
  if ((spec.kind !== 'shards' && spec.kind !== 'file') || spec.rows) return { settings };
  const total = readManifest(spec.path).manifest.total_tokens;
  if (total < 4 * evalTokens) return { settings, note: `${spec.path} has ${total} rows, too few to hold out ${evalTokens}: training on all of them` };
  const data = formatDataSpec({ ...spec, rows: { start: 0, end: total - evalTokens } });
  return { settings: { ...settings, data }, note: `held out: rows ${total - evalTokens}:${total} of ${spec.path} (never trained on) for the final evaluation` };
}

export async function trainAndReport(be: Backend, job: TrainJob): Promise<TrainJobResult> {
  const reserved = reserveHeldOutTail(job.settings, job.evalTokens, job.evalData);
  const { cfg, resuming } = resolveRunConfig(reserved.settings, job.out, job.resume, job.where);
  job.log?.(banner(cfg, be.name) + (resuming ? ` — resuming ${job.out}` : ''));
  if (reserved.note) job.log?.(`saekit: ${reserved.note}`);
  const res = await train(be, cfg, {
    out: job.out, resume: job.resume, progress: job.progress, signal: job.signal, ...(job.label ? { label: job.label } : {}),
    ...(job.source ? { source: () => job.source!(cfg) } : {}), ...(job.comm ? { comm: job.comm, parallel: job.parallel ?? 'data' } : {}),
  });
  if (!res.finished || (job.comm && job.comm.rank !== 0)) return { cfg, train: res };
  const held = await heldOutSource(be, res.sae.cfg.data, job.evalTokens, job.evalData);
  const resolved = readRunConfig(job.out)?.resolved;
  const training = {
    dead_fraction: res.last?.dead_fraction ?? 0, dead_window: Number(resolved?.dead_tokens_effective ?? 0), tokens: res.tokens, budget: cfg.tokens, held_out: held.heldOut,
  };
  const summary = await writeReport(be, job.out, res.sae, held.source, job.evalTokens, training);
  return { cfg, train: res, summary };
}
