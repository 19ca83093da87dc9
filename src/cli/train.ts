/** `saekit train`: train an SAE into a run folder (resumable), then evaluate and plot. */
import { Command } from 'commander';
import { getBackend } from '../compute/backend.js';
import { openHeldOut, openSource } from '../data/open.js';
import type { ActivationSource } from '../data/source.js';
import { formatSummary, writeReport } from '../eval/report.js';
import { parseTrainConfig, TrainConfig } from '../train/config.js';
import { train } from '../train/trainer.js';
import { addSchemaOptions, parseNumber, pickSchemaOptions } from './flags.js';
import type { Backend } from '../compute/backend.js';

/** Held-out evaluation data: the given --eval-data, else held-out rows of the training data. */
export async function heldOut(be: Backend, data: string, tokens: number, evalData?: string): Promise<ActivationSource> {
  return evalData ? openSource(evalData, be) : openHeldOut(data, be, tokens);
}

export async function runTraining(raw: Record<string, unknown>, out: string, resume: boolean, evalTokens: number, evalData?: string): Promise<void> {
  const be = getBackend();
  const cfg = parseTrainConfig(raw, 'train');
  console.log(`saekit: training ${cfg.arch} SAE on ${cfg.data}: ${cfg.latents} latents, k=${cfg.k}, ${cfg.tokens} tokens in batches of ${cfg.batch} (backend ${be.name})`);
  const res = await train(be, cfg, { out, resume, progress: true });
  if (!res.finished) {
    process.exitCode = 130;
    return;
  }
  const s = await writeReport(be, out, res.sae, await heldOut(be, cfg.data, evalTokens, evalData), evalTokens);
  console.log(`saekit: done: ${res.steps} steps, ${res.tokens} tokens. Held-out evaluation:`);
  console.log(formatSummary(s));
  console.log(`saekit: wrote ${out}/{sae.safetensors,cfg.json,metrics.jsonl,eval.json,loss.svg,density.svg,report.md}`);
}

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a sparse autoencoder (resumable with --resume)')
    .requiredOption('--out <dir>', 'run folder to write')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--eval-tokens <n>', 'held-out tokens for the final evaluation', (v) => parseNumber('--eval-tokens', v), 65536)
    .option('--eval-data <path>', 'held-out data for the final evaluation (default: synthetic stream 1, or the training data)');
  addSchemaOptions(cmd, TrainConfig);
  return cmd.action(async (opts: Record<string, unknown>) => {
    await runTraining(pickSchemaOptions(opts, TrainConfig), opts.out as string, Boolean(opts.resume), opts.evalTokens as number, opts.evalData as string | undefined);
  });
}
