/**
 * The training configuration, declared once: the CLI flags, config.json and the validation
 * errors all come from this schema.
 */
import { z } from 'zod';
import { ARCHS } from '../sae/common.js';

export const TrainConfig = z.object({
  arch: z.enum(ARCHS).default('topk').describe('SAE architecture: topk, batchtopk, matryoshka, jumprelu, relu or vae'),
  data: z.string().default('synthetic').describe('activations: synthetic[:key=value,...], a shard folder, or one .safetensors file'),
  latents: z.number().int().positive().default(4096).describe('number of latents n'),
  k: z.number().int().positive().default(32).describe('active latents per token (TopK), mean per token (BatchTopK, Matryoshka)'),
  multiTopK: z.boolean().default(false).describe('Multi-TopK loss L(k) + L(4k)/8'),
  prefixes: z.array(z.number().int().positive()).optional().describe('Matryoshka: nested dictionary sizes, comma-separated (default n/16, n/4, n)'),
  lambda: z.number().min(0).optional().describe('sparsity coefficient: the L0 penalty (jumprelu, default 0.003) or the decoder-norm-weighted L1 (relu, default 0.01)'),
  lambdaWarmup: z.number().min(0).max(1).default(0.05).describe('fraction of the run over which lambda rises linearly from 0'),
  jumpEps: z.number().positive().default(0.05).describe('JumpReLU: bandwidth of the rectangle kernel of the threshold pseudo-derivative'),
  theta0: z.number().positive().default(0.01).describe('JumpReLU: initial threshold'),
  kdeDecay: z.number().min(0).max(0.9999).default(0).describe('JumpReLU: 0 = per-batch threshold gradient; in (0,1): persistent kernel sums with this decay'),
  transcode: z.boolean().default(false).describe('train a transcoder: map the data\'s inputs to its targets (shards with targets from saekit extract --target-site, lm:...,targetSite=SITE, or synthetic:...,targetD=N)'),
  vaeNoise: z.number().positive().default(0.1).describe('VAE: observation noise variance as a fraction of the data variance per dimension'),
  kAux: z.number().int().min(0).optional().describe('AuxK latents per token (default d/2; 0 disables AuxK)'),
  auxAlpha: z.number().min(0).default(1 / 32).describe('weight of the AuxK loss'),
  deadTokens: z.number().int().positive().default(10_000_000).describe('a latent is dead after this many tokens without firing (capped at tokens/4)'),
  tokens: z.number().int().positive().default(20_000_000).describe('training token budget'),
  batch: z.number().int().positive().default(4096).describe('rows per step'),
  lr: z.number().positive().optional().describe('Adam learning rate (default 2e-4 / sqrt(latents / 2^14))'),
  warmup: z.number().min(0).max(1).default(0.01).describe('fraction of steps with linear lr warm-up'),
  decay: z.number().min(0).max(1).default(0.2).describe('fraction of final steps with linear lr decay to 0'),
  clipGrad: z.number().min(0).default(0).describe('clip the global gradient norm to this (0 = off)'),
  normalize: z.boolean().default(false).describe('scale inputs by one constant so that E||x||² = d (estimated from a sample; folded into the saved SAE, which acts on raw activations)'),
  encoderInit: z.enum(['transpose', 'random']).default('transpose').describe('encoder init: decoder transpose (Gao et al.) or independent random'),
  shuffle: z.union([z.literal('none'), z.number().int().positive()]).default('none').describe('shuffle buffer rows, or none'),
  seed: z.number().int().default(0).describe('seed of init and shuffling'),
  logEvery: z.number().int().positive().default(10).describe('steps between metrics.jsonl lines'),
  checkpointEvery: z.number().int().min(0).default(0).describe('tokens between checkpoints (0 = every 10% of the run)'),
}).strict()
  .refine((c) => c.k <= c.latents, { message: 'k must be <= latents', path: ['k'] })
  .refine((c) => !c.multiTopK || c.arch === 'topk', { message: 'Multi-TopK applies to arch topk only', path: ['multiTopK'] })
  .refine((c) => !c.prefixes || (c.arch === 'matryoshka' && c.prefixes.every((m, i) => m <= c.latents && (i === 0 || m > c.prefixes![i - 1]!))),
    { message: 'prefixes are for arch matryoshka: ascending sizes, each <= latents', path: ['prefixes'] })
  .refine((c) => c.batch <= c.tokens, { message: 'batch must be <= tokens', path: ['batch'] });
export type TrainConfig = z.infer<typeof TrainConfig>;

/** Parses and validates; errors name the field and what was expected. */
export function parseTrainConfig(raw: unknown, where = 'config'): TrainConfig {
  const got = TrainConfig.safeParse(raw);
  if (!got.success) {
    const issue = got.error.issues[0]!;
    throw new Error(`${where}: ${issue.path.length ? `"${issue.path.join('.')}"` : 'value'}: ${issue.message}`);
  }
  return got.data;
}

export function defaultLr(latents: number): number {
  return 2e-4 / Math.sqrt(latents / 2 ** 14);
}
