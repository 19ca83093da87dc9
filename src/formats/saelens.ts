/**
 * SAELens folders: cfg.json + sae_weights.safetensors with W_enc [d_in, d_sae],
 * b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in] (keys and orientations as SAELens 6's
 * SAE.save_model writes them; TopK config fields from its TopKSAEConfig), and threshold [d_sae]
 * for JumpReLU. saekit's BatchTopK and Matryoshka SAEs infer with a threshold, so they are
 * written as SAELens "jumprelu" SAEs (as SAELens saves its own BatchTopK SAEs); a ReLU SAE is
 * "standard". The VAE has no SAELens counterpart.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import { architecture as architectureOf, ARCH_NAMES, ARCHITECTURES } from '../sae/arch/registry.js';
import type { Sae, SaeOrigin } from '../sae/common.js';
import { siteOfHook } from './hooks.js';
import { foldDecoderBias, foldDecoderNorm, foldInputScale, transpose } from './layout.js';

export const SAELENS_WEIGHTS = 'sae_weights.safetensors';

/** What SAELens's metadata says of the activations (TransformerLens hook name and so on). */
export interface SaeLensMeta {
  hookName?: string;
  modelName?: string;
  contextSize?: number;
  dataset?: string;
}

export function exportSaeLens(sae: Sae, dir: string, meta: SaeLensMeta = {}): void {
  const { d, n, k, arch } = sae.cfg;
  if (sae.cfg.dOut !== undefined) throw new Error('transcoders are not exported to SAELens by saekit (only SAEs whose input and output are the same space)');
  const architecture = architectureOf(arch).saelens?.architecture;
  if (!architecture) throw new Error(`a ${arch} SAE has no SAELens architecture to export to (export supports ${ARCH_NAMES.filter((a) => architectureOf(a).saelens).join(', ')})`);
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, SAELENS_WEIGHTS), {
    W_enc: { dtype: 'F32', shape: [d, n], data: transpose(sae.params.W_enc, n, d) },
    b_enc: { dtype: 'F32', shape: [n], data: sae.params.b_enc },
    W_dec: { dtype: 'F32', shape: [n, d], data: sae.params.W_dec },
    b_dec: { dtype: 'F32', shape: [d], data: sae.params.b_dec },
    ...(architecture === 'jumprelu' ? { threshold: { dtype: 'F32' as const, shape: [n], data: sae.params.threshold! } } : {}),
  });
  writeJsonAtomic(join(dir, 'cfg.json'), {
    d_in: d, d_sae: n, dtype: 'float32', device: 'cpu', apply_b_dec_to_input: true,
    normalize_activations: 'none', reshape_activations: 'none',
    metadata: {
      model_name: meta.modelName ?? null, hook_name: meta.hookName ?? null, context_size: meta.contextSize ?? null, dataset_path: meta.dataset ?? null,
      sae_lens_version: '6.0.0', trained_with: 'saekit', training_data: sae.cfg.data,
    },
    architecture, ...(architecture === 'topk' ? { k, rescale_acts_by_decoder_norm: false } : {}),
  });
}

export function isSaeLensFolder(dir: string): boolean {
  return existsSync(join(dir, SAELENS_WEIGHTS)) && existsSync(join(dir, 'cfg.json'));
}

/** The SAELens config as SAELens 6 reads it: configs written before 6.0 (hook_point,
 *  activation_fn_str, activation_fn_kwargs.k, boolean normalize_activations, no architecture
 *  field) mapped as its handle_pre_6_0_config maps them, and metadata fields lifted to the top. */
function saeLensConfig(raw: Record<string, unknown>): Record<string, unknown> {
  const meta = raw.metadata && typeof raw.metadata === 'object' ? raw.metadata as Record<string, unknown> : {};
  const version = String(raw.sae_lens_version ?? meta.sae_lens_version ?? '0');
  const cfg: Record<string, unknown> = { ...meta, ...raw };
  if (Number.parseInt(version, 10) < 6) {
    cfg.hook_name ??= cfg.hook_point;
    cfg.activation_fn ??= cfg.activation_fn_str ?? 'relu';
    cfg.architecture ??= 'standard';
    cfg.apply_b_dec_to_input ??= true;
    const kwargs = cfg.activation_fn_kwargs as { k?: unknown } | undefined;
    if (cfg.activation_fn === 'topk' && kwargs?.k !== undefined) {
      cfg.architecture = 'topk';
      cfg.k = kwargs.k;
    }
    if (typeof cfg.normalize_activations === 'boolean') cfg.normalize_activations = cfg.normalize_activations ? 'expected_average_only_in' : 'none';
  }
  cfg.normalize_activations ??= 'none';
  return cfg;
}

export interface SaeLensImport {
  /** SAELens's norm scaling factor, for SAEs trained with normalize_activations
   *  "expected_average_only_in" (folded into the weights as SAELens folds it) */
  normScale?: number;
  /** the address recorded as the SAE's origin (default: the folder) */
  from?: string;
}

export function importSaeLens(dir: string, o: SaeLensImport = {}): Sae {
  const cfgPath = join(dir, 'cfg.json');
  const cfg = saeLensConfig(readJsonObject(cfgPath));
  if (cfg.architecture === 'gated') throw new Error(`${cfgPath}: architecture is "gated"; saekit has no gated SAE (it imports SAELens "topk", "jumprelu" and "standard" SAEs)`);
  const importable = [...ARCHITECTURES.values()].filter((a) => a.saelens?.imports);
  const arch = importable.find((a) => a.saelens!.architecture === cfg.architecture)?.name;
  if (!arch) throw new Error(`${cfgPath}: architecture is ${JSON.stringify(cfg.architecture)}; saekit imports SAELens ${importable.map((a) => `"${a.saelens!.architecture}"`).join(', ')} SAEs`);
  for (const key of cfg.architecture === 'topk' ? ['d_in', 'd_sae', 'k'] as const : ['d_in', 'd_sae'] as const) {
    if (!Number.isInteger(cfg[key]) || (cfg[key] as number) <= 0) throw new Error(`${cfgPath}: field "${key}" must be a positive integer, got ${JSON.stringify(cfg[key])}`);
  }
  const norm = cfg.normalize_activations;
  let scale = 1;
  if (norm === 'expected_average_only_in') {
    const given = o.normScale ?? cfg.norm_scaling_factor;
    if (typeof given !== 'number' || !(given > 0) || !Number.isFinite(given)) {
      throw new Error(`${cfgPath}: normalize_activations is "expected_average_only_in", which needs the SAE's norm scaling factor (SAELens keeps it in its pretrained_saes.yaml, not in the folder); pass --norm-scaling-factor`);
    }
    scale = given;
  } else if (norm !== 'none') {
    throw new Error(`${cfgPath}: normalize_activations is ${JSON.stringify(norm)}, a per-token normalization saekit's SAEs do not have; saekit imports "none" and "expected_average_only_in"`);
  }
  if (cfg.reshape_activations === 'hook_z' || String(cfg.hook_name ?? '').endsWith('hook_z')) {
    throw new Error(`${cfgPath}: an attention-output (hook_z) SAE; saekit has no per-head z site`);
  }
  const d = cfg.d_in as number, n = cfg.d_sae as number, k = cfg.architecture === 'topk' ? cfg.k as number : 0;
  const f = SafetensorsFile.open(join(dir, SAELENS_WEIGHTS));
  try {
    const expect = (name: string, shape: number[]): Float32Array => {
      const got = f.info(name).shape;
      if (JSON.stringify(got) !== JSON.stringify(shape)) throw new Error(`${f.path}: "${name}" has shape ${JSON.stringify(got)}, expected ${JSON.stringify(shape)}`);
      return f.readF32(name);
    };
    const params = {
      W_enc: transpose(expect('W_enc', [d, n]), d, n), b_enc: expect('b_enc', [n]), W_dec: expect('W_dec', [n, d]), b_dec: expect('b_dec', [d]),
      ...(cfg.architecture === 'jumprelu' ? { threshold: expect('threshold', [n]) } : {}),
    };
    if (cfg.rescale_acts_by_decoder_norm) foldDecoderNorm(params, n, d);
    if (scale !== 1) foldInputScale(params, scale);
    if (cfg.apply_b_dec_to_input === false) foldDecoderBias(params, n, d);
    const hook = typeof cfg.hook_name === 'string' ? cfg.hook_name : undefined;
    const at = hook ? siteOfHook(hook) : null;
    const origin: SaeOrigin = {
      imported_from: o.from ?? dir, format: 'saelens',
      ...(typeof cfg.model_name === 'string' ? { model: cfg.model_name } : {}),
      ...(at ? { layer: at.layer, site: at.site } : {}), ...(hook ? { hook_name: hook } : {}),
      ...(Number.isInteger(cfg.context_size) && (cfg.context_size as number) > 0 ? { context_size: cfg.context_size as number } : {}),
      ...(typeof cfg.dataset_path === 'string' ? { dataset: cfg.dataset_path } : {}),
    };
    return { cfg: { format: 'saekit-sae', arch, d, n, k, multiTopK: false, data: '', origin }, params };
  } finally {
    f.close();
  }
}
