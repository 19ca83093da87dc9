/**
 * The training configuration, declared once: the shared fields here, each architecture's own
 * fields in its file under src/sae/arch/. The CLI flags, config.json and the validation errors
 * all come from these schemas. A run records only its architecture's fields.
 */
import { z } from 'zod';
import { PRECISIONS } from '../compute/backend.js';
import { architecture, ARCH_NAMES, ARCHITECTURES } from '../sae/arch/registry.js';

/** Gao et al.'s dead window, in tokens. */
export const DEFAULT_DEAD_TOKENS = 10_000_000;
/** The fraction of final steps over which the learning rate decays linearly to 0. */
export const DEFAULT_DECAY = 0.2;

export const SharedTrainConfig = z.object({
  arch: z.string().default('topk').describe(`SAE architecture: ${ARCH_NAMES.join(', ')}`),
  data: z.string().default('synthetic').describe('activations: synthetic[:key=value,...], lm:..., a shard folder, or one .safetensors file'),
  latents: z.number().int().positive().optional().describe('number of latents n (default: --expansion × d)'),
  expansion: z.number().positive().default(16).describe('latents per input dimension when --latents is not given (n = expansion × d, rounded)'),
  transcode: z.boolean().default(false).describe('train a transcoder: map the data\'s inputs to its targets (shards with targets from saekit extract --target-site, lm:...,targetSite=SITE, or synthetic:...,targetD=N)'),
  deadTokens: z.number().int().positive().default(DEFAULT_DEAD_TOKENS).describe('a latent is dead after this many tokens without firing (as Gao et al. and sparsify; in a shorter run none is, and AuxK does not engage)'),
  tokens: z.number().int().positive().default(20_000_000).describe('training token budget'),
  batch: z.number().int().positive().default(4096).describe('rows per step'),
  lr: z.number().positive().optional().describe('Adam learning rate (default 2e-4 / sqrt(latents / 2^14), Gao et al.; 4× that for relu)'),
  warmup: z.number().min(0).max(1).default(0.01).describe('fraction of steps with linear lr warm-up'),
  decay: z.number().min(0).max(1).default(DEFAULT_DECAY).describe('fraction of final steps with linear lr decay to 0'),
  clipGrad: z.number().min(0).default(0).describe('clip the global gradient norm to this (0 = off)'),
  normalize: z.boolean().default(false).describe('scale inputs by one constant so that E||x||² = d (estimated from a sample; folded into the saved SAE, which acts on raw activations)'),
  encoderInit: z.enum(['transpose', 'random']).default('transpose').describe('encoder init: decoder transpose (Gao et al.) or independent random'),
  shuffle: z.union([z.literal('none'), z.literal('auto'), z.number().int().positive()]).default('auto').describe('shuffle buffer rows, none, or auto (default: none for synthetic data, whose rows are independent; otherwise a buffer of up to 262,144 rows and 512 MB)'),
  precision: z.enum(PRECISIONS).default('f32').describe('encoder GEMM: f32, or bf16 inputs with f32 accumulation (oneDNN; needs AVX512_BF16 or AMX, else f32 is used) with f32 master weights and optimizer state'),
  seed: z.number().int().default(0).describe('seed of init and shuffling'),
  logEvery: z.number().int().positive().default(10).describe('steps between metrics.jsonl lines'),
  checkpointEvery: z.number().int().min(0).default(0).describe('tokens between checkpoints (0 = every 10% of the run)'),
});
export type SharedTrainConfig = z.infer<typeof SharedTrainConfig>;

/** A parsed configuration: the shared fields plus the architecture's own (by name). */
export type TrainConfig = SharedTrainConfig & Record<string, unknown>;

/** Fields a resumed run may change: the budget can be extended, logging and checkpoint spacing
 *  changed; everything else is the run's identity. */
export const CHANGEABLE_ON_RESUME = ['tokens', 'logEvery', 'checkpointEvery'] as const;

/** Every architecture field by name, with the architectures that have it (for the CLI flags
 *  and for naming the owner of a misplaced field). */
export function architectureFields(): Map<string, { schema: z.ZodType; archs: string[] }> {
  const out = new Map<string, { schema: z.ZodType; archs: string[] }>();
  for (const a of ARCHITECTURES.values()) {
    for (const [key, schema] of Object.entries(a.options.shape as Record<string, z.ZodType>)) {
      const got = out.get(key);
      if (got) got.archs.push(a.name);
      else out.set(key, { schema, archs: [a.name] });
    }
  }
  return out;
}

/** All field names a training setting may have (shared + any architecture's). */
export function trainFieldNames(): string[] {
  return [...Object.keys(SharedTrainConfig.shape), ...architectureFields().keys()];
}

/** Parses and validates; errors name the field and what was expected. A field that belongs to
 *  another architecture is refused, naming the architectures that have it. */
export function parseTrainConfig(raw: unknown, where = 'config'): TrainConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: expected an object of training settings`);
  const rec = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined));
  const archName = rec.arch === undefined ? 'topk' : String(rec.arch);
  const arch = architecture(archName, `${where}: "arch"`);
  const schema = SharedTrainConfig.extend(arch.options.shape).strict();
  const owners = architectureFields();
  for (const key of Object.keys(rec)) {
    if (key in schema.shape) continue;
    const owner = owners.get(key);
    if (owner) throw new Error(`${where}: "${key}" applies to arch ${owner.archs.join(', ')}, not ${archName}`);
  }
  const got = schema.safeParse(rec);
  if (!got.success) {
    const issue = got.error.issues[0]!;
    throw new Error(`${where}: ${issue.path.length ? `"${issue.path.join('.')}"` : 'value'}: ${issue.message}`);
  }
  const cfg = got.data as TrainConfig;
  if (cfg.batch > cfg.tokens) throw new Error(`${where}: "batch": batch must be <= tokens (${cfg.tokens}), got ${cfg.batch}`);
  if (cfg.skip === true && !cfg.transcode) throw new Error(`${where}: "skip": a skip path maps a transcoder's input to its output; pass transcode (--transcode) too`);
  if (cfg.latents !== undefined) checkArchitecture(cfg, cfg.latents, where);
  return cfg;
}

/** The number of latents of a run on data of width d. */
export function latentsFor(cfg: TrainConfig, d: number): number {
  return cfg.latents ?? Math.max(1, Math.round(cfg.expansion * d));
}

/** The architecture's cross-field checks at n latents (run again once the data gives n). */
export function checkArchitecture(cfg: TrainConfig, n: number, where = 'config'): void {
  const bad = architecture(cfg.arch).check?.(archOptions(cfg), { latents: n });
  if (bad) throw new Error(`${where}: "${bad.field}": ${bad.message}`);
}

/** The architecture's own fields of a parsed configuration. */
export function archOptions(cfg: TrainConfig): Record<string, unknown> {
  const shape = architecture(cfg.arch).options.shape as Record<string, unknown>;
  return Object.fromEntries(Object.keys(shape).filter((k) => cfg[k] !== undefined).map((k) => [k, cfg[k]]));
}

export function defaultLr(latents: number): number {
  return 2e-4 / Math.sqrt(latents / 2 ** 14);
}
