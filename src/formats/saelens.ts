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
import type { Sae } from '../sae/common.js';
import { transpose } from './layout.js';

export const SAELENS_WEIGHTS = 'sae_weights.safetensors';

export function exportSaeLens(sae: Sae, dir: string, meta: { hookName?: string; modelName?: string } = {}): void {
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
    metadata: { model_name: meta.modelName ?? null, hook_name: meta.hookName ?? null, trained_with: 'saekit', training_data: sae.cfg.data },
    architecture, ...(architecture === 'topk' ? { k, rescale_acts_by_decoder_norm: false } : {}),
  });
}

export function isSaeLensFolder(dir: string): boolean {
  return existsSync(join(dir, SAELENS_WEIGHTS)) && existsSync(join(dir, 'cfg.json'));
}

export function importSaeLens(dir: string): Sae {
  const cfgPath = join(dir, 'cfg.json');
  const cfg = readJsonObject(cfgPath);
  const importable = [...ARCHITECTURES.values()].filter((a) => a.saelens?.imports);
  const arch = importable.find((a) => a.saelens!.architecture === cfg.architecture)?.name;
  if (!arch) throw new Error(`${cfgPath}: architecture is ${JSON.stringify(cfg.architecture)}; saekit imports SAELens ${importable.map((a) => `"${a.saelens!.architecture}"`).join(', ')} SAEs`);
  for (const key of cfg.architecture === 'topk' ? ['d_in', 'd_sae', 'k'] as const : ['d_in', 'd_sae'] as const) {
    if (!Number.isInteger(cfg[key]) || (cfg[key] as number) <= 0) throw new Error(`${cfgPath}: field "${key}" must be a positive integer, got ${JSON.stringify(cfg[key])}`);
  }
  if (cfg.normalize_activations && cfg.normalize_activations !== 'none') {
    throw new Error(`${cfgPath}: normalize_activations is ${JSON.stringify(cfg.normalize_activations)}; only "none" is supported`);
  }
  if (cfg.rescale_acts_by_decoder_norm) throw new Error(`${cfgPath}: rescale_acts_by_decoder_norm=true is not supported`);
  const d = cfg.d_in as number, n = cfg.d_sae as number, k = cfg.architecture === 'topk' ? cfg.k as number : 0;
  const f = SafetensorsFile.open(join(dir, SAELENS_WEIGHTS));
  try {
    const expect = (name: string, shape: number[]): Float32Array => {
      const got = f.info(name).shape;
      if (JSON.stringify(got) !== JSON.stringify(shape)) throw new Error(`${f.path}: "${name}" has shape ${JSON.stringify(got)}, expected ${JSON.stringify(shape)}`);
      return f.readF32(name);
    };
    const W_enc = transpose(expect('W_enc', [d, n]), d, n);
    const b_enc = expect('b_enc', [n]);
    const W_dec = expect('W_dec', [n, d]);
    const b_dec = expect('b_dec', [d]);
    const threshold = cfg.architecture === 'jumprelu' ? expect('threshold', [n]) : undefined;
    if (cfg.apply_b_dec_to_input === false) {
      // pre = x·W_enc + b_enc  ==  (x − b_dec)·W_enc + (b_enc + b_dec·W_enc)
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += b_dec[c]! * W_enc[i * d + c]!;
        b_enc[i]! += s;
      }
    }
    return { cfg: { format: 'saekit-sae', arch, d, n, k, multiTopK: false, data: `imported from SAELens ${dir}` }, params: { W_enc, b_enc, W_dec, b_dec, ...(threshold ? { threshold } : {}) } };
  } finally {
    f.close();
  }
}
