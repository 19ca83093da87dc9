/**
 * The training configuration, declared once: the CLI flags, config.json and the validation
 * errors all come from this schema.
 */
import { z } from 'zod';

export const TrainConfig = z.object({
  arch: z.enum(['topk']).default('topk').describe('SAE architecture'),
  data: z.string().default('synthetic').describe('activations: synthetic[:key=value,...], a shard folder, or one .safetensors file'),
  latents: z.number().int().positive().default(4096).describe('number of latents n'),
  k: z.number().int().positive().default(32).describe('active latents per token'),
  multiTopK: z.boolean().default(false).describe('Multi-TopK loss L(k) + L(4k)/8'),
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
