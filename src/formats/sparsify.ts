/**
 * sparsify folders (EleutherAI): cfg.json + sae.safetensors with encoder.weight [n, d],
 * encoder.bias [n], W_dec [n, d], b_dec [d]; cfg holds SparseCoderConfig's fields plus d_in.
 * sparsify's encoder subtracts b_dec from the input unless transcoding, as saekit's does
 * (SparseCoder.encode); its transcoders predict a module's output of the input's width.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import { architecture } from '../sae/arch/registry.js';
import type { Sae, SaeOrigin } from '../sae/common.js';
import { hookName, siteOfSparsifyHook } from './hooks.js';

export function exportSparsify(sae: Sae, dir: string): void {
  const { d, n, k, arch } = sae.cfg;
  const transcode = sae.cfg.dOut !== undefined;
  if (transcode && sae.cfg.dOut !== d) throw new Error(`sparsify transcoders write into their input's width; this transcoder maps ${d} to ${sae.cfg.dOut}`);
  if (!architecture(arch).sparsify) throw new Error(`sparsify SAEs are TopK only; this SAE is ${arch} (export it to SAELens instead)`);
  if (sae.params.W_skip) throw new Error('a skip transcoder\'s skip path (W_skip) has no place saekit writes in a sparsify folder: keep it as a saekit folder');
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, 'sae.safetensors'), {
    'encoder.weight': { dtype: 'F32', shape: [n, d], data: sae.params.W_enc },
    'encoder.bias': { dtype: 'F32', shape: [n], data: sae.params.b_enc },
    W_dec: { dtype: 'F32', shape: [n, d], data: sae.params.W_dec },
    b_dec: { dtype: 'F32', shape: [d], data: sae.params.b_dec },
  }, { format: 'pt' });
  writeJsonAtomic(join(dir, 'cfg.json'), {
    activation: 'topk', expansion_factor: Math.max(1, Math.round(n / d)), normalize_decoder: true, num_latents: n,
    k, multi_topk: sae.cfg.multiTopK, skip_connection: false, transcode, d_in: d,
  });
}

export function isSparsifyFolder(dir: string): boolean {
  if (!existsSync(join(dir, 'sae.safetensors')) || !existsSync(join(dir, 'cfg.json'))) return false;
  const cfg = readJsonObject(join(dir, 'cfg.json'));
  return 'd_in' in cfg && 'num_latents' in cfg;
}

/** The hookpoint's layer and site from the folder's name, and the model and context length from
 *  the training config.json one level up, where sparsify wrote one. */
function sparsifyOrigin(dir: string, from: string, transcode: boolean): SaeOrigin {
  const hook = basename(resolve(dir));
  const found = siteOfSparsifyHook(hook);
  // a transcoder of module layers.N.mlp reads the MLP's input (saekit's mlp_in) and predicts its output
  const at = found && transcode ? { layer: found.layer, site: 'mlp_in' as const } : found;
  const runCfg = join(dirname(resolve(dir)), 'config.json');
  const run = existsSync(runCfg) ? readJsonObject(runCfg) : {};
  return {
    imported_from: from, format: 'sparsify', ...(typeof run.model === 'string' ? { model: run.model } : {}),
    ...(at ? { layer: at.layer, site: at.site, hook_name: hookName(at.layer, at.site) } : {}),
    ...(Number.isInteger(run.ctx_len) ? { context_size: run.ctx_len as number } : {}),
    ...(typeof run.dataset === 'string' ? { dataset: run.dataset } : {}),
  };
}

export function importSparsify(dir: string, o: { from?: string } = {}): Sae {
  const cfgPath = join(dir, 'cfg.json');
  const cfg = readJsonObject(cfgPath);
  if (cfg.activation !== undefined && cfg.activation !== 'topk') throw new Error(`${cfgPath}: activation is ${JSON.stringify(cfg.activation)}; saekit imports "topk" sparse coders`);
  if (cfg.skip_connection) throw new Error(`${cfgPath}: skip_connection=true is not supported`);
  const d = cfg.d_in as number, k = cfg.k as number;
  if (!Number.isInteger(d) || d <= 0) throw new Error(`${cfgPath}: field "d_in" must be a positive integer, got ${JSON.stringify(cfg.d_in)}`);
  if (!Number.isInteger(k) || k <= 0) throw new Error(`${cfgPath}: field "k" must be a positive integer, got ${JSON.stringify(cfg.k)}`);
  const f = SafetensorsFile.open(join(dir, 'sae.safetensors'));
  try {
    const n = f.info('encoder.weight').shape[0]!;
    const expect = (name: string, shape: number[]): Float32Array => {
      const got = f.info(name).shape;
      if (JSON.stringify(got) !== JSON.stringify(shape)) throw new Error(`${f.path}: "${name}" has shape ${JSON.stringify(got)}, expected ${JSON.stringify(shape)}`);
      return f.readF32(name);
    };
    return {
      // a transcoder (transcode=true) reads its input uncentred and writes the same width, as saekit's transcoders
      cfg: { format: 'saekit-sae', arch: 'topk', d, n, k, ...(cfg.transcode ? { dOut: d } : {}), multiTopK: Boolean(cfg.multi_topk), data: '', origin: sparsifyOrigin(dir, o.from ?? dir, Boolean(cfg.transcode)) },
      params: { W_enc: expect('encoder.weight', [n, d]), b_enc: expect('encoder.bias', [n]), W_dec: expect('W_dec', [n, d]), b_dec: expect('b_dec', [d]) },
    };
  } finally {
    f.close();
  }
}
