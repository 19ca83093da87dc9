/**
 * What every SAE architecture shares: the parameter set, initialization, and the on-disk
 * form (a folder of cfg.json + sae.safetensors, readable from Python).
 *
 * Layout (row i belongs to latent i): W_enc [n, d], b_enc [n], W_dec [n, d], b_dec [d]; the
 * threshold architectures (JumpReLU, and BatchTopK/Matryoshka at inference) add threshold [n],
 * the VAE adds its log-variance head W_logvar [n, d], b_logvar [n].
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Backend } from '../compute/backend.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import type { Rng } from '../util/rng.js';

export const ARCHS = ['topk', 'batchtopk', 'matryoshka', 'jumprelu', 'relu', 'vae'] as const;
export type Arch = (typeof ARCHS)[number];

export type SaeParams = {
  W_enc: Float32Array;
  b_enc: Float32Array;
  W_dec: Float32Array;
  b_dec: Float32Array;
  threshold?: Float32Array;
  W_logvar?: Float32Array;
  b_logvar?: Float32Array;
};
export type ParamName = keyof SaeParams;
/** The four tensors every architecture has. */
export const PARAM_NAMES = ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const;

/** cfg.json of a saekit SAE folder. */
export const SaeConfig = z.object({
  format: z.literal('saekit-sae').default('saekit-sae'),
  arch: z.enum(ARCHS).describe('architecture'),
  d: z.number().int().positive().describe('input width d_in'),
  n: z.number().int().positive().describe('number of latents'),
  k: z.number().int().min(0).describe('active latents per token (TopK; the mean for BatchTopK/Matryoshka; 0 where not fixed)'),
  prefixes: z.array(z.number().int().positive()).optional().describe('Matryoshka: nested dictionary sizes, the last = n'),
  dOut: z.number().int().positive().optional().describe('transcoder: output width (W_dec [n, dOut], b_dec [dOut]); the input is not centred by b_dec'),
  multiTopK: z.boolean().default(false).describe('trained with the Multi-TopK loss L(k) + L(4k)/8'),
  data: z.string().default('').describe('where the training activations came from'),
});
export type SaeConfig = z.infer<typeof SaeConfig>;

export interface Sae {
  cfg: SaeConfig;
  params: SaeParams;
}

/** The tensors an SAE of this architecture has, with their shapes, in file order. */
export function paramShapes(cfg: { d: number; n: number; arch?: Arch; dOut?: number }): Partial<Record<ParamName, number[]>> {
  const dOut = cfg.dOut ?? cfg.d;
  const base = { W_enc: [cfg.n, cfg.d], b_enc: [cfg.n], W_dec: [cfg.n, dOut], b_dec: [dOut] };
  switch (cfg.arch ?? 'topk') {
    case 'jumprelu': case 'batchtopk': case 'matryoshka': return { ...base, threshold: [cfg.n] };
    case 'vae': return { ...base, W_logvar: [cfg.n, cfg.d], b_logvar: [cfg.n] };
    default: return base;
  }
}

/** Names and shapes of paramShapes as entries, typed. */
export function paramEntries(cfg: { d: number; n: number; arch?: Arch; dOut?: number }): [ParamName, number[]][] {
  return Object.entries(paramShapes(cfg)) as [ParamName, number[]][];
}

/** Geometric median of rows x [rows, d] by Weiszfeld iterations (the b_dec init of Gao et al.). */
export function geometricMedian(x: Float32Array, rows: number, d: number, iters = 100, tol = 1e-7): Float32Array {
  const m = new Float64Array(d);
  for (let b = 0; b < rows; b++) for (let c = 0; c < d; c++) m[c]! += x[b * d + c]! / rows;
  const next = new Float64Array(d);
  for (let it = 0; it < iters; it++) {
    next.fill(0);
    let wsum = 0;
    for (let b = 0; b < rows; b++) {
      let dist = 0;
      for (let c = 0; c < d; c++) dist += (x[b * d + c]! - m[c]!) ** 2;
      const w = 1 / Math.max(Math.sqrt(dist), 1e-12);
      wsum += w;
      for (let c = 0; c < d; c++) next[c]! += w * x[b * d + c]!;
    }
    let shift = 0, norm = 0;
    for (let c = 0; c < d; c++) {
      const v = next[c]! / wsum;
      shift += (v - m[c]!) ** 2;
      norm += v * v;
      m[c] = v;
    }
    if (Math.sqrt(shift) <= tol * Math.max(1, Math.sqrt(norm))) break;
  }
  return Float32Array.from(m);
}

/**
 * Init of Gao et al.: decoder rows random unit vectors, encoder = decoder (transpose, in the
 * y = x·W_encᵀ convention), b_enc = 0, b_dec = geometric median of a data sample.
 * encoderInit 'random' draws the encoder independently instead (for the init ablation). A
 * transcoder (dOut given: input and output are different spaces) always draws its encoder,
 * and its b_dec is the median of the target sample.
 */
export function initParams(be: Backend, cfg: { d: number; n: number; dOut?: number }, rng: Rng, sample: Float32Array, sampleRows: number,
  encoderInit: 'transpose' | 'random' = 'transpose'): SaeParams {
  const { d, n } = cfg;
  const dOut = cfg.dOut ?? d;
  const W_dec = rng.normals(n * dOut);
  be.normalizeRows(W_dec, n, dOut);
  let W_enc: Float32Array;
  if (encoderInit === 'transpose' && cfg.dOut === undefined) {
    W_enc = Float32Array.from(W_dec);
  } else {
    W_enc = rng.normals(n * d);
    be.normalizeRows(W_enc, n, d);
  }
  return { W_enc, b_enc: new Float32Array(n), W_dec, b_dec: geometricMedian(sample, sampleRows, dOut) };
}

export function saveSae(dir: string, sae: Sae): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'sae.safetensors'),
    Object.fromEntries(paramEntries(sae.cfg).map(([p, shape]) => [p, { dtype: 'F32' as const, shape, data: sae.params[p]! }])),
    { format: 'saekit' });
  writeJsonAtomic(join(dir, 'cfg.json'), sae.cfg);
}

/** Reads params by name from an open file, checking each shape against the config. */
export function readParams(file: SafetensorsFile, cfg: { d: number; n: number; arch?: Arch; dOut?: number }): SaeParams {
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

export function loadSae(dir: string): Sae {
  const cfgPath = join(dir, 'cfg.json');
  if (!existsSync(cfgPath)) throw new Error(`${dir}: not a saekit SAE folder (no cfg.json)`);
  const parsed = SaeConfig.safeParse(readJsonFile(cfgPath));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${cfgPath}: field "${issue.path.join('.')}": ${issue.message} (is this a saekit SAE? use \`saekit import\` for SAELens/sparsify folders)`);
  }
  const file = SafetensorsFile.open(join(dir, 'sae.safetensors'));
  try {
    return { cfg: parsed.data, params: readParams(file, parsed.data) };
  } finally {
    file.close();
  }
}
