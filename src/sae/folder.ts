/**
 * An SAE on disk (docs/design.md §6.2): a folder of cfg.json + sae.safetensors, readable
 * from Python. Tensors (row i belongs to latent i): W_enc [n, d], b_enc [n], W_dec [n, dOut],
 * b_dec [dOut], plus the architecture's extras (threshold [n]; the VAE's W_logvar [n, d],
 * b_logvar [n]). cfg.json keys are snake_case (d_out, multi_top_k); 0.1's camelCase loads too.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import { fromDiskKeys, toDiskKeys } from '../io/naming.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import { architecture, ARCH_NAMES } from './arch/registry.js';
import type { ParamName, Sae, SaeConfig, SaeParams } from './common.js';

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
  data: z.string().default('').describe('the canonical data spec of the training activations'),
  precision: z.enum(['f32', 'bf16']).optional().describe('the encoder GEMM precision it was trained at and encodes at by default (absent: f32)'),
  origin: z.object({
    imported_from: z.string(), format: z.string(), model: z.string().optional(), layer: z.number().int().min(0).optional(),
    site: z.string().optional(), hook_name: z.string().optional(), context_size: z.number().int().positive().optional(), dataset: z.string().optional(),
  }).optional().describe('an imported SAE: where it reads its activations, as its source says'),
});

type Dims = { d: number; n: number; arch: string; dOut?: number };

/** The tensors an SAE of this architecture has, with their shapes, in file order. */
export function paramShapes(cfg: Dims): Partial<Record<ParamName, number[]>> {
  const dOut = cfg.dOut ?? cfg.d;
  return { W_enc: [cfg.n, cfg.d], b_enc: [cfg.n], W_dec: [cfg.n, dOut], b_dec: [dOut], ...architecture(cfg.arch).extraShapes(cfg.d, cfg.n) };
}

/** Names and shapes of paramShapes as entries, typed. */
export function paramEntries(cfg: Dims): [ParamName, number[]][] {
  return Object.entries(paramShapes(cfg)) as [ParamName, number[]][];
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
  const cfg = readSaeConfig(dir);
  const file = SafetensorsFile.open(join(dir, 'sae.safetensors'));
  try {
    return { cfg, params: readParams(file, cfg) };
  } finally {
    file.close();
  }
}
