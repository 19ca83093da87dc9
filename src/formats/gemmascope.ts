/**
 * Gemma Scope SAEs (Lieberum et al. 2024, google/gemma-scope-*): one params.npz per SAE, in
 * folders layer_L/width_W/average_l0_N, with W_enc [d, n], W_dec [n, d], b_enc [n], b_dec [d]
 * and threshold [n]. A JumpReLU whose encoder reads x itself (pre = x·W_enc + b_enc, no b_dec
 * subtracted), folded into saekit's centred form on import. The repo's name says the site
 * (-res-: resid_post, -mlp-: mlp_out; -att-: attention's z, which saekit has no site for) and
 * the model (gemma-scope-2b-pt-… is google/gemma-2-2b); SAEs of the embeddings were trained on
 * embeddings divided by √d, so their encoder is scaled by 1/√d and decoder by √d, as SAELens does.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readNpz } from '../io/npy.js';
import type { Sae, SaeOrigin } from '../sae/common.js';
import { hookName } from './hooks.js';
import { foldDecoderBias, transpose } from './layout.js';

export const GEMMA_SCOPE_PARAMS = 'params.npz';

export const isGemmaScopeFolder = (dir: string): boolean => existsSync(join(dir, GEMMA_SCOPE_PARAMS));

/** Where a Gemma Scope SAE reads, from its repo name and folder path (what it can say). */
export function gemmaScopeOrigin(repo: string, path: string, from: string): SaeOrigin {
  const size = /gemma-scope-(\d+b)-(pt|it)/.exec(repo);
  const model = size ? `google/gemma-2-${size[1]}${size[2] === 'it' ? '-it' : ''}` : undefined;
  const layer = /layer_(\d+)/.exec(path);
  const site = /-res\b/.test(repo) ? 'resid_post' as const : /-mlp\b/.test(repo) ? 'mlp_out' as const : undefined;
  const at = layer && site ? { layer: Number(layer[1]), site, hook_name: hookName(Number(layer[1]), site) } : {};
  return { imported_from: from, format: 'gemmascope', ...(model ? { model } : {}), ...at, context_size: 1024, dataset: 'monology/pile-uncopyrighted' };
}

export function importGemmaScope(dir: string, origin: SaeOrigin): Sae {
  const file = join(dir, GEMMA_SCOPE_PARAMS);
  const arrays = readNpz(file);
  const get = (name: string, rank: number): { shape: number[]; data: Float32Array } => {
    const a = arrays.get(name) ?? arrays.get(name.replace(/^W_/, 'w_'));
    if (!a) throw new Error(`${file}: no array "${name}" (it holds ${[...arrays.keys()].join(', ') || 'none'})`);
    if (a.shape.length !== rank) throw new Error(`${file}: "${name}" has shape [${a.shape}], expected ${rank} dimensions`);
    return a;
  };
  const enc = get('W_enc', 2);
  const [d, n] = enc.shape as [number, number];
  const check = (name: string, shape: number[]): Float32Array => {
    const a = get(name, shape.length);
    if (a.shape.join(',') !== shape.join(',')) throw new Error(`${file}: "${name}" has shape [${a.shape}], expected [${shape}] (W_enc is [${d}, ${n}])`);
    return a.data;
  };
  const params = {
    W_enc: transpose(enc.data, d, n), b_enc: check('b_enc', [n]), W_dec: check('W_dec', [n, d]), b_dec: check('b_dec', [d]), threshold: check('threshold', [n]),
  };
  const scaling = arrays.get('scaling_factor');
  if (scaling && scaling.data.some((v) => Math.abs(v - 1) > 1e-6)) throw new Error(`${file}: a scaling_factor other than 1 (a fine-tuned scale) is not supported`);
  if (/embedding/.test(origin.imported_from)) {
    const r = Math.sqrt(d);
    for (let e = 0; e < params.W_enc.length; e++) params.W_enc[e]! /= r;
    for (let e = 0; e < params.W_dec.length; e++) params.W_dec[e]! *= r;
  }
  foldDecoderBias(params, n, d);
  return { cfg: { format: 'saekit-sae', arch: 'jumprelu', d, n, k: 0, multiTopK: false, data: '', origin }, params };
}
