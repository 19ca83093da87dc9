/**
 * An SAE on disk (docs/design.md §6.2): a folder of cfg.json + sae.safetensors, readable
 * from Python. Tensors (row i belongs to latent i): W_enc [n, d], b_enc [n], W_dec [n, dOut],
 * b_dec [dOut], plus the architecture's extras (threshold [n]; the VAE's W_logvar [n, d],
 * b_logvar [n]). cfg.json keys are snake_case (d_out, multi_top_k); 0.1's camelCase loads too.
 *
 * A latent split (--parallel latents) saves one file per rank instead of sae.safetensors:
 * sae-R-of-P.safetensors holds latents [lo, hi) (those rows of every latent-indexed tensor, and
 * the whole b_dec), and cfg.json's "shards" lists each file with its range. loadSae reads such a
 * folder as one SAE.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { rankRange, together, type Comm } from '../compute/comm.js';
import { join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import { fromDiskKeys, toDiskKeys } from '../io/naming.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import { architecture, ARCH_NAMES } from './arch/registry.js';
import { LATENT_PARAMS, type ParamName, type Sae, type SaeConfig, type SaeParams } from './common.js';

/** cfg.json, validated (camelCase field names after fromDiskKeys). */
export const SaeConfigSchema = z.object({
  format: z.literal('saekit-sae').default('saekit-sae'),
  arch: z.string().refine((a) => ARCH_NAMES.includes(a), { message: `expected one of ${ARCH_NAMES.join(', ')}` }).describe('architecture'),
  d: z.number().int().positive().describe('input width d_in'),
  n: z.number().int().positive().describe('number of latents'),
  k: z.number().int().min(0).describe('active latents per token (TopK; the mean for BatchTopK/Matryoshka; 0 where not fixed)'),
  prefixes: z.array(z.number().int().positive()).optional().describe('Matryoshka: nested dictionary sizes, the last = n'),
  dOut: z.number().int().positive().optional().describe('transcoder: output width'),
  multiTopK: z.boolean().default(false).describe('trained with the Multi-TopK loss'),
  skip: z.boolean().optional().describe('a skip transcoder: W_skip [d_out, d] adds x·W_skipᵀ to the output'),
  layers: z.number().int().positive().optional().describe('a cross-layer transcoder: the layers side by side in d and d_out (W_enc [n, d/layers])'),
  selection: z.enum(['batch', 'jumprelu']).optional().describe('a cross-layer transcoder trained with each layer\'s batch top k or with JumpReLU: it encodes with its stored thresholds'),
  data: z.string().default('').describe('the canonical data spec of the training activations'),
  precision: z.enum(['f32', 'bf16']).optional().describe('the encoder GEMM precision it was trained at and encodes at by default (absent: f32)'),
  origin: z.object({
    imported_from: z.string(), format: z.string(), model: z.string().optional(), layer: z.number().int().min(0).optional(),
    site: z.string().optional(), hook_name: z.string().optional(), context_size: z.number().int().positive().optional(), dataset: z.string().optional(),
  }).optional().describe('an imported SAE: where it reads its activations, as its source says'),
  shards: z.array(z.object({ file: z.string().regex(/^[\w.-]+\.safetensors$/), latents: z.tuple([z.number().int().min(0), z.number().int().positive()]) }))
    .min(1).optional().describe('a latent split\'s weights: one file per rank with its latents [lo, hi)'),
});

/** The weights file of rank r of P of a latent split. */
export const shardFile = (rank: number, size: number): string => `sae-${rank}-of-${size}.safetensors`;

/** Whether a saekit folder holds an SAE's weights (one file, or a latent split's shards). */
export function hasSaeWeights(dir: string): boolean {
  if (existsSync(join(dir, 'sae.safetensors'))) return true;
  try {
    return Array.isArray((readJsonFile(join(dir, 'cfg.json')) as { shards?: unknown }).shards);
  } catch {
    return false;
  }
}

type Dims = { d: number; n: number; arch: string; dOut?: number; skip?: boolean; layers?: number; selection?: 'batch' | 'jumprelu' };

/** The tensors an SAE of this architecture has, with their shapes, in file order. */
export function paramShapes(cfg: Dims): Partial<Record<ParamName, number[]>> {
  const dOut = cfg.dOut ?? cfg.d;
  return {
    W_enc: [cfg.n, cfg.layers ? cfg.d / cfg.layers : cfg.d], b_enc: [cfg.n], W_dec: [cfg.n, dOut], b_dec: [dOut], ...architecture(cfg.arch).extraShapes(cfg.d, cfg.n, cfg),
    ...(cfg.skip ? { W_skip: [dOut, cfg.d] } : {}),
  };
}

/** Names and shapes of paramShapes as entries, typed. */
export function paramEntries(cfg: Dims): [ParamName, number[]][] {
  return Object.entries(paramShapes(cfg)) as [ParamName, number[]][];
}

/** The latent-indexed tensors' row width (0 for b_dec and W_skip, which every shard holds whole). */
function rowsOfLatent(name: ParamName, shape: number[]): number {
  return LATENT_PARAMS.includes(name) ? shape.slice(1).reduce((a, v) => a * v, 1) : 0;
}

/**
 * A latent split's save, called by every rank with its latents (rankRange of cfg.n): each rank
 * writes its own file; rank 0 writes cfg.json with the list of shards once every file is
 * written, so the folder reads as an SAE only when whole.
 */
export function saveSaeShard(dir: string, cfg: SaeConfig, params: SaeParams, comm: Comm): void {
  const range = (rank: number) => rankRange(cfg.n, rank, comm.size);
  const { lo, hi } = range(comm.rank);
  const shapes = paramEntries(cfg).map(([p, shape]): [ParamName, number[]] => [p, rowsOfLatent(p, shape) ? [hi - lo, ...shape.slice(1)] : shape]);
  together(comm, `saving the SAE in ${dir}`, () => writeSafetensors(join(dir, shardFile(comm.rank, comm.size)),
    Object.fromEntries(shapes.map(([p, shape]) => [p, { dtype: 'F32' as const, shape, data: params[p]! }])), { format: 'saekit', latents: `${lo}:${hi}` }));
  if (comm.rank !== 0) return;
  const shards = Array.from({ length: comm.size }, (_, r) => ({ file: shardFile(r, comm.size), latents: [range(r).lo, range(r).hi] }));
  writeJsonAtomic(join(dir, 'cfg.json'), toDiskKeys({ ...cfg, shards }));
}

export function saveSae(dir: string, sae: Sae): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'sae.safetensors'),
    Object.fromEntries(paramEntries(sae.cfg).map(([p, shape]) => [p, { dtype: 'F32' as const, shape, data: sae.params[p]! }])),
    { format: 'saekit' });
  writeJsonAtomic(join(dir, 'cfg.json'), toDiskKeys({ ...sae.cfg }));
}

/** Reads params by name from an open file, checking each shape against the config. */
export function readParams(file: SafetensorsFile, cfg: Dims): SaeParams {
  const out = {} as SaeParams;
  for (const [p, shape] of paramEntries(cfg)) {
    const got = file.info(p).shape;
    if (JSON.stringify(got) !== JSON.stringify(shape)) {
      throw new Error(`${file.path}: tensor "${p}" has shape ${JSON.stringify(got)}, expected ${JSON.stringify(shape)} (d=${cfg.d}, n=${cfg.n})`);
    }
    out[p] = file.readF32(p);
  }
  return out;
}

/** cfg.json of an SAE folder, validated; errors name the file and field. */
export function readSaeConfig(dir: string): SaeConfig {
  const cfgPath = join(dir, 'cfg.json');
  if (!existsSync(cfgPath)) throw new Error(`${dir}: not a saekit SAE folder (no cfg.json)`);
  const raw = readJsonFile(cfgPath);
  const parsed = SaeConfigSchema.safeParse(raw && typeof raw === 'object' ? fromDiskKeys(raw as Record<string, unknown>) : raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${cfgPath}: field "${issue.path.join('.')}": ${issue.message} (is this a saekit SAE? use \`saekit import\` for SAELens/sparsify folders)`);
  }
  return parsed.data;
}

export function loadSae(dir: string): Sae {
  const { shards, ...cfg } = readSaeConfig(dir);
  if (shards) return { cfg, params: readShards(dir, cfg, shards) };
  const file = SafetensorsFile.open(join(dir, 'sae.safetensors'));
  try {
    return { cfg, params: readParams(file, cfg) };
  } finally {
    file.close();
  }
}

/** A latent split's files read into whole tensors: the shards must tile [0, n) in order. */
function readShards(dir: string, cfg: SaeConfig, shards: { file: string; latents: [number, number] }[]): SaeParams {
  const where = join(dir, 'cfg.json');
  let next = 0;
  for (const { file, latents: [lo, hi] } of shards) {
    if (lo !== next || hi <= lo || hi > cfg.n) throw new Error(`${where}: field "shards": ${file} holds latents ${lo}:${hi}, expected ${next}:… (the shards must cover 0:${cfg.n} in order)`);
    next = hi;
  }
  if (next !== cfg.n) throw new Error(`${where}: field "shards": the shards end at latent ${next}, expected ${cfg.n}`);
  const out = {} as SaeParams;
  const entries = paramEntries(cfg);
  for (const [p, shape] of entries) out[p] = new Float32Array(shape.reduce((a, v) => a * v, 1));
  for (const [s, { file, latents: [lo, hi] }] of shards.entries()) {
    const f = SafetensorsFile.open(join(dir, file));
    try {
      for (const [p, shape] of entries) {
        const rows = rowsOfLatent(p, shape);
        if (!rows && s > 0) continue;
        const want = rows ? [hi - lo, ...shape.slice(1)] : shape;
        const got = f.info(p).shape;
        if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${f.path}: tensor "${p}" has shape ${JSON.stringify(got)}, expected ${JSON.stringify(want)} (latents ${lo}:${hi} of ${cfg.n})`);
        out[p]!.set(f.readF32(p), rows * lo);
      }
    } finally {
      f.close();
    }
  }
  return out;
}
