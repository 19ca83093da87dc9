/** `saekit extract` (cache a model's activations as shards) and `saekit generate` (see it talk). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { getBackend } from '../compute/backend.js';
import { extractActivations } from '../data/extract.js';
import { LmSpec, openLmSource } from '../data/lm.js';
import { lmOrigin } from '../data/spec.js';
import { generate } from '../lm/generate.js';
import { loadLm } from '../lm/load.js';
import type { Site } from '../lm/transformer.js';
import { openSae } from '../app/hub.js';
import { interventionHook, parseInterventions, saeSiteOf } from '../app/steer.js';
import { addSchemaOptions, intFlag, pickSchemaOptions, realFlag } from './flags.js';

/** Parses the --model/--corpus/... flags with the lm: spec's schema, naming the flag on error. */
export function lmSpecFromFlags(opts: Record<string, unknown>): LmSpec {
  const raw = pickSchemaOptions(opts, LmSpec);
  if (typeof raw.sep === 'string') raw.sep = raw.sep.replace(/\\n/g, '\n').replace(/\\t/g, '\t');
  const got = LmSpec.safeParse(raw);
  if (!got.success) {
    const issue = got.error.issues[0]!;
    throw new Error(`--${String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: ${issue.message}`);
  }
  return got.data;
}

export function extractCommand(): Command {
  const cmd = new Command('extract')
    .description('run a language model over a corpus and cache one site\'s activations as shards (resumable with --resume)')
    .requiredOption('--out <dir>', 'shard folder to write')
    .option('--dtype <dtype>', 'F32 or BF16', 'F32')
    .option('--shard-tokens <n>', 'rows per shard file (default: up to 65536, at most 256 MB)', intFlag('--shard-tokens', 1))
    .option('--resume', 'continue an interrupted extraction in --out');
  addSchemaOptions(cmd, LmSpec);
  return cmd.action(async (opts: Record<string, unknown>) => {
    const spec = lmSpecFromFlags(opts);
    if (opts.dtype !== 'F32' && opts.dtype !== 'BF16') throw new Error(`--dtype: expected F32 or BF16, got ${String(opts.dtype)}`);
    const src = await openLmSource({ ...spec, from: spec.from ?? 'start' }, getBackend());
    const c = src.model.config;
    console.log(`saekit: extracting ${spec.site} of layer ${spec.layer} from ${spec.model} (${c.family}, d=${c.dim}, ${c.nLayers} layers) over ${src.contexts.count} contexts of ${spec.ctx} tokens from ${spec.corpus}: ${src.length} rows`);
    const origin = { ...lmOrigin(spec), tokens: src.length, lm_spec: src.description };
    const t0 = performance.now();
    const complete = Boolean(opts.resume) && existsSync(join(opts.out as string, 'manifest.json'));
    const m = extractActivations(src, { out: opts.out as string, origin, dtype: opts.dtype, shardTokens: opts.shardTokens as number | undefined, resume: Boolean(opts.resume), progress: true });
    const sec = (performance.now() - t0) / 1000;
    if (complete) {
      console.log(`saekit: ${String(opts.out)}: the extraction is already complete (${m.total_tokens} rows in ${m.shards.length} shard(s)); nothing to do`);
      return;
    }
    console.log(`saekit: wrote ${m.total_tokens} rows of d=${m.d} in ${m.shards.length} shard(s) to ${String(opts.out)} (${(m.total_tokens / sec).toFixed(0)} tokens/s this session)`);
  });
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function generateCommand(): Command {
  return new Command('generate')
    .description('generate text from a model (greedy by default): a visible check that model and tokenizer load correctly; with --sae, ' +
      'steer, clamp or ablate its latents at the SAE\'s site')
    .requiredOption('--model <path>', 'llama2.c .bin, Hugging Face folder, or hf:ORG/NAME')
    .option('--tokenizer <path>', 'tokenizer when not beside the model')
    .option('--prompt <text>', 'text to continue', '')
    .option('--steps <n>', 'forward passes, prompt included', intFlag('--steps', 1), 256)
    .option('--temperature <t>', '0 = greedy', realFlag('--temperature', 0, 100), 0)
    .option('--top-p <p>', 'nucleus sampling mass', realFlag('--top-p', 0, 1), 0.9)
    .option('--seed <n>', 'sampling seed', intFlag('--seed', 0), 0)
    .option('--sae <run>', 'an SAE (any layout saekit reads, or hf:...) at whose site --steer/--clamp/--ablate act')
    .option('--steer <latent=scale>', 'add scale × the latent\'s decoder row at every position (repeatable, or comma-separated)', collect)
    .option('--clamp <latent=value>', 'set the latent\'s activation to value at every position (repeatable)', collect)
    .option('--ablate <latent>', 'set the latent\'s activation to 0 at every position (repeatable)', collect)
    .option('--layer <n>', 'the SAE\'s layer (default: what it records)', intFlag('--layer', 0))
    .option('--site <site>', 'the SAE\'s site (default: what it records)')
    .option('--baseline', 'also print the continuation without interventions')
    .action(async (o: GenerateFlags) => {
      const be = getBackend();
      const { model, tokenizer } = await loadLm(o.model, be, o.tokenizer);
      const edits = o.steer || o.clamp || o.ablate;
      if (edits && !o.sae) throw new Error('--steer, --clamp and --ablate need --sae');
      let hook;
      if (o.sae) {
        const sae = await openSae(o.sae);
        const at = saeSiteOf(sae, { layer: o.layer, site: o.site as Site | undefined });
        if (sae.cfg.d !== model.config.dim) throw new Error(`--sae ${o.sae}: reads width ${sae.cfg.d}, the model's ${at.site} has ${model.config.dim}`);
        hook = interventionHook(be, sae, at, parseInterventions(o, sae.cfg.n));
        process.stderr.write(`saekit: interventions at layer ${at.layer} ${at.site}\n`);
      }
      const gen = { steps: o.steps, temperature: o.temperature, topP: o.topP, seed: o.seed };
      if (o.baseline && hook) {
        process.stdout.write('without interventions:\n');
        process.stdout.write(generate(model, tokenizer, o.prompt, gen).text + '\n\nwith interventions:\n');
      }
      const t0 = performance.now();
      const { ids } = generate(model, tokenizer, o.prompt, { ...gen, ...(hook ? { hook } : {}), onText: (p) => process.stdout.write(p) });
      process.stdout.write('\n');
      const sec = (performance.now() - t0) / 1000;
      process.stderr.write(`saekit: ${ids.length} tokens in ${sec.toFixed(2)} s (${(ids.length / sec).toFixed(0)} tokens/s)\n`);
    });
}

interface GenerateFlags {
  model: string; tokenizer?: string; prompt: string; steps: number; temperature: number; topP: number; seed: number;
  sae?: string; steer?: string[]; clamp?: string[]; ablate?: string[]; layer?: number; site?: string; baseline?: boolean;
}
