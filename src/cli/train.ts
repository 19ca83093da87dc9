/** `saekit train`: train an SAE into a run folder (resumable), then evaluate and plot. */
import { Command } from 'commander';
import { trainAndReport, type TrainJob } from '../app/train.js';
import { getBackend } from '../compute/backend.js';
import { formatSummary } from '../eval/report.js';
import { addTrainOptions, intFlag, pickTrainOptions } from './flags.js';
import { withStopSignal } from './signals.js';

/** Runs a train job with Ctrl-C / SIGTERM writing a checkpoint (exit code 130). */
export async function runTrainJob(job: Omit<TrainJob, 'signal' | 'log' | 'progress'>): Promise<void> {
  const res = await withStopSignal((signal) => trainAndReport(getBackend(), { ...job, progress: true, signal, log: (l) => console.log(l) }));
  if (!res.summary) {
    process.stderr.write(`saekit: ${res.train.stoppedBy}: checkpoint written at step ${res.train.steps}; continue with --resume\n`);
    process.exitCode = 130;
    return;
  }
  console.log(`saekit: done: ${res.train.steps} steps, ${res.train.tokens} tokens. Held-out evaluation:`);
  console.log(formatSummary(res.summary));
  console.log(`saekit: wrote ${job.out}/{sae.safetensors,cfg.json,metrics.jsonl,eval.json,loss.svg,density.svg,report.md}`);
}

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a sparse autoencoder (resumable with --resume: the run keeps its saved configuration)')
    .requiredOption('--out <dir>', 'run folder to write')
    .option('--resume', 'continue the run in --out from its last checkpoint, with its saved configuration')
    .option('--eval-tokens <n>', 'held-out tokens for the final evaluation', intFlag('--eval-tokens', 1), 65536)
    .option('--eval-data <path>', 'held-out data for the final evaluation (default: the held-out part of the training data)');
  addTrainOptions(cmd);
  return cmd.action(async (opts: Record<string, unknown>) => {
    await runTrainJob({ settings: pickTrainOptions(opts), out: opts.out as string, resume: Boolean(opts.resume), evalTokens: opts.evalTokens as number, evalData: opts.evalData as string | undefined });
  });
}
