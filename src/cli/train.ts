/** `saekit train`: train an SAE into a run folder (resumable), then evaluate and plot. */
import { Command, Option } from 'commander';
import { parseLayers, trainLayers } from '../app/layers.js';
import { trainAndReport, type TrainJob } from '../app/train.js';
import { getBackend } from '../compute/backend.js';
import { mpiComm } from '../compute/comm.js';
import { formatSummary } from '../eval/report.js';
import { addTrainOptions, intFlag, pickTrainOptions } from './flags.js';
import { recipeFrom } from './recipe.js';
import { withStopSignal } from './signals.js';

/** Runs a train job with Ctrl-C / SIGTERM writing a checkpoint (exit code 130). Under
 *  --parallel only rank 0 prints and reports; a rank's error names the rank. */
export async function runTrainJob(job: Omit<TrainJob, 'signal' | 'log' | 'progress'>): Promise<void> {
  const lead = !job.comm || job.comm.rank === 0;
  let res;
  try {
    res = await withStopSignal((signal) => trainAndReport(getBackend(), { ...job, progress: lead, signal, ...(lead ? { log: (l: string) => console.log(l) } : {}) }));
  } catch (err) {
    if (job.comm && job.comm.size > 1) {
      process.stderr.write(`saekit: rank ${job.comm.rank} of ${job.comm.size}: ${(err as Error).message}; stopping the job\n`);
      job.comm.abort(1);
    }
    throw err;
  }
  if (!lead) return;
  if (!res.summary) {
    process.stderr.write(`saekit: ${res.train.stoppedBy}: checkpoint written at step ${res.train.steps}; continue with --resume\n`);
    process.exitCode = 130;
    return;
  }
  console.log(`saekit: done: ${res.train.steps} steps, ${res.train.tokens} tokens. Held-out evaluation:`);
  console.log(formatSummary(res.summary));
  const weights = job.parallel === 'latents' && job.comm ? `sae-{0..${job.comm.size - 1}}-of-${job.comm.size}.safetensors` : 'sae.safetensors';
  console.log(`saekit: wrote ${job.out}/{${weights},cfg.json,metrics.jsonl,eval.json,loss.svg,density.svg,report.md}`);
}

/** --layers: one run per layer over one shared model forward, side by side in this process. */
async function runLayersJob(job: Omit<TrainJob, 'signal' | 'log' | 'progress'>, layers: string): Promise<void> {
  const results = await withStopSignal((signal) => trainLayers(getBackend(), { ...job, progress: true, signal, log: (l: string) => console.log(l) }, parseLayers(layers)));
  let stopped = false;
  for (const r of results) {
    if (r.error) {
      process.stderr.write(`saekit: layer ${r.layer} (${r.out}): ${r.error.message}\n`);
      process.exitCode = 1;
    } else if (!r.result?.summary) {
      stopped = true;
    } else {
      console.log(`saekit: layer ${r.layer}: ${r.result.train.steps} steps, ${r.result.train.tokens} tokens → ${r.out}. Held-out evaluation:`);
      console.log(formatSummary(r.result.summary));
    }
  }
  if (stopped) {
    process.stderr.write(`saekit: stopped: each layer's checkpoint is written; continue with --resume\n`);
    process.exitCode ??= 130;
  }
}

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a sparse autoencoder (resumable with --resume: the run keeps its saved configuration)')
    .requiredOption('--out <dir>', 'run folder to write')
    .option('--resume', 'continue the run in --out from its last checkpoint, with its saved configuration')
    .option('--eval-tokens <n>', 'held-out tokens for the final evaluation', intFlag('--eval-tokens', 1), 65536)
    .option('--eval-data <path>', 'held-out data for the final evaluation (default: the held-out part of the training data)')
    .option('--recipe <fits>', 'take --lr, --tokens, --batch and --dead-tokens (those not given) from saekit recipe: a fits.json, or "published"; needs --latents')
    .option('--layers <list>', 'lm: data only: train one SAE or transcoder per layer ("all" or e.g. 0,2,4) into --out/layer-L, over one model forward per batch; the spec\'s layer is replaced')
    .addOption(new Option('--parallel <mode>', 'under mpirun -np P: data (each rank trains on its slice of every global batch; gradients summed across the ranks) or latents (each rank holds n/P latents and sees the whole batch; the top k chosen together; one SAE file per rank)').choices(['data', 'latents']));
  addTrainOptions(cmd);
  return cmd.action(async (opts: Record<string, unknown>) => {
    const settings = pickTrainOptions(opts);
    if (opts.recipe !== undefined && !opts.resume) {
      if (typeof settings.latents !== 'number') throw new Error('--recipe needs --latents (the recipe is per dictionary size)');
      const r = recipeFrom(opts.recipe as string, settings.latents, typeof settings.k === 'number' ? settings.k : undefined);
      const taken = { lr: r.lr, ...(r.tokens !== undefined ? { tokens: r.tokens } : {}), batch: r.batch, deadTokens: r.deadTokens };
      for (const [key, v] of Object.entries(taken)) settings[key] ??= v;
      console.log(`saekit: recipe (${r.basis}): ${Object.entries(taken).map(([k2, v]) => `${k2} ${settings[k2] === v ? v : `${settings[k2]} (given; recipe ${v})`}`).join(', ')}`);
      for (const w of r.warnings) console.log(`saekit: recipe warning: ${w}`);
    }
    if (opts.layers !== undefined) {
      if (opts.parallel) throw new Error('--layers trains every layer in one process; it does not combine with --parallel');
      if (opts.evalData !== undefined) throw new Error('--layers evaluates each layer on the held-out end of its own lm: data; --eval-data names one layer\'s rows');
      await runLayersJob({ settings, out: opts.out as string, resume: Boolean(opts.resume), evalTokens: opts.evalTokens as number }, opts.layers as string);
      return;
    }
    await runTrainJob({ settings, out: opts.out as string, resume: Boolean(opts.resume), evalTokens: opts.evalTokens as number, evalData: opts.evalData as string | undefined,
      ...(opts.parallel ? { comm: mpiComm(), parallel: opts.parallel as 'data' | 'latents' } : {}) });
  });
}
