// SAELens and sparsify folders: exact tensor names, orientations and cfg keys; round trips;
// the exported SAE reconstructs exactly what the original does.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { referenceBackend as be } from '../src/compute/backend.js';
import { exportSaeLens, importSaeLens } from '../src/formats/saelens.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { exportSparsify, importSparsify } from '../src/formats/sparsify.js';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.js';
import { type Sae } from '../src/sae/common.js';
import { rankRange, SINGLE, type Comm } from '../src/compute/comm.js';
import { hasSaeWeights, loadSae, saveSae, saveSaeShard } from '../src/sae/folder.js';
import { sliceLatents } from '../src/sae/shard.js';
import { topkForwardBackward, TopKWorkspace } from '../src/sae/ksparse.js';
import { Rng } from '../src/util/rng.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-fmt-'));
const d = 6, n = 10, k = 3;
function randomSae(): Sae {
  const rng = new Rng(5);
  const W_dec = rng.normals(n * d);
  be.normalizeRows(W_dec, n, d);
  return { cfg: { format: 'saekit-sae', arch: 'topk', d, n, k, multiTopK: false, data: 'test' },
    params: { W_enc: rng.normals(n * d), b_enc: rng.normals(n, 0.1), W_dec, b_dec: rng.normals(d, 0.1) } };
}
function reconstruct(sae: Sae, x: Float32Array, B: number): Float32Array {
  const ws = new TopKWorkspace(B, sae.cfg.n, sae.cfg.d, { k: sae.cfg.k, multiTopK: false, kAux: 0, auxAlpha: 0 });
  topkForwardBackward(be, sae.params, x, B, { k: sae.cfg.k, multiTopK: false, kAux: 0, auxAlpha: 0 }, ws, null, null);
  return Float32Array.from(ws.recon);
}
const x = new Rng(8).normals(7 * d);

describe('formats', () => {
  it('saekit folder round trip', () => {
    const dir = tmp(), sae = randomSae();
    saveSae(dir, sae);
    const back = loadSae(dir);
    expect(back.cfg).toEqual(sae.cfg);
    for (const p of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) expect(Array.from(back.params[p])).toEqual(Array.from(sae.params[p]));
  });

  it('a latent split\'s shards (one file per rank, listed in cfg.json) load as one SAE; a gap or a wrong shape is named', () => {
    const dir = tmp(), sae = randomSae(), P = 3;
    const range = (r: number) => rankRange(n, r, P);
    // the ranks in reverse: rank 0 writes cfg.json last, as under mpirun once every file is written
    for (const rank of [2, 1, 0]) {
      const comm: Comm = { ...SINGLE, rank, size: P };
      expect(hasSaeWeights(dir)).toBe(false);
      saveSaeShard(dir, sae.cfg, sliceLatents(sae.params, n, range(rank).lo, range(rank).hi), comm);
    }
    expect(hasSaeWeights(dir)).toBe(true);
    const back = loadSae(dir);
    expect(back.cfg).toEqual(sae.cfg);
    for (const p of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) expect(Array.from(back.params[p])).toEqual(Array.from(sae.params[p]));
    expect(SafetensorsFile.open(join(dir, 'sae-1-of-3.safetensors')).info('W_enc').shape).toEqual([range(1).hi - range(1).lo, d]);
    // a saved copy is one ordinary file again
    const copy = tmp();
    saveSae(copy, back);
    expect(JSON.parse(readFileSync(join(copy, 'cfg.json'), 'utf8')).shards).toBeUndefined();
    const cfgPath = join(dir, 'cfg.json'), cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    writeJsonAtomic(cfgPath, { ...cfg, shards: [cfg.shards[0], cfg.shards[2]] });
    expect(() => loadSae(dir)).toThrow(/cfg\.json: field "shards": sae-2-of-3\.safetensors holds latents 6:10, expected 3:…/);
    writeJsonAtomic(cfgPath, { ...cfg, shards: [cfg.shards[0], { ...cfg.shards[1], latents: [3, 7] }, { ...cfg.shards[2], latents: [7, 10] }] });
    expect(() => loadSae(dir)).toThrow(/sae-1-of-3\.safetensors: tensor "W_enc" has shape \[3,6\], expected \[4,6\] \(latents 3:7 of 10\)/);
  });

  it('SAELens: W_enc is [d_in, d_sae], cfg keys as SAELens writes them, round trip and same reconstruction', () => {
    const dir = tmp(), sae = randomSae();
    exportSaeLens(sae, dir, { hookName: 'blocks.0.hook_resid_post' });
    const f = SafetensorsFile.open(join(dir, 'sae_weights.safetensors'));
    expect(f.info('W_enc').shape).toEqual([d, n]);
    expect(f.info('W_dec').shape).toEqual([n, d]);
    expect(f.info('b_enc').shape).toEqual([n]);
    expect(f.info('b_dec').shape).toEqual([d]);
    // W_enc[c][i] (SAELens) = W_enc[i][c] (saekit)
    expect(f.readF32('W_enc')[2 * n + 7]).toBe(sae.params.W_enc[7 * d + 2]);
    f.close();
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    expect(cfg).toMatchObject({ d_in: d, d_sae: n, architecture: 'topk', k, apply_b_dec_to_input: true, normalize_activations: 'none', dtype: 'float32', rescale_acts_by_decoder_norm: false });
    expect(cfg.metadata.hook_name).toBe('blocks.0.hook_resid_post');
    const back = importSaeLens(dir);
    expect(Array.from(reconstruct(back, x, 7))).toEqual(Array.from(reconstruct(sae, x, 7)));
  });

  it('SAELens with apply_b_dec_to_input=false is folded into b_enc on import', () => {
    const dir = tmp(), sae = randomSae();
    exportSaeLens(sae, dir);
    // the same SAE written the other way: pre = x·W_enc + b_enc' with b_enc' = b_enc − b_dec·W_enc
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    cfg.apply_b_dec_to_input = false;
    const bEnc = Float32Array.from(sae.params.b_enc, (v, i) => v - sae.params.W_enc.subarray(i * d, (i + 1) * d).reduce((s, w, c) => s + w * sae.params.b_dec[c]!, 0));
    const f = SafetensorsFile.open(join(dir, 'sae_weights.safetensors'));
    const W_enc = f.readF32('W_enc');
    f.close();
    writeSafetensors(join(dir, 'sae_weights.safetensors'), {
      W_enc: { dtype: 'F32', shape: [d, n], data: W_enc }, b_enc: { dtype: 'F32', shape: [n], data: bEnc },
      W_dec: { dtype: 'F32', shape: [n, d], data: sae.params.W_dec }, b_dec: { dtype: 'F32', shape: [d], data: sae.params.b_dec },
    });
    writeJsonAtomic(join(dir, 'cfg.json'), cfg);
    const back = importSaeLens(dir);
    const a = reconstruct(back, x, 7), b = reconstruct(sae, x, 7);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
  });

  it('sparsify: tensor names encoder.weight/encoder.bias/W_dec/b_dec, cfg keys, round trip', () => {
    const dir = tmp(), sae = randomSae();
    exportSparsify(sae, dir);
    const f = SafetensorsFile.open(join(dir, 'sae.safetensors'));
    expect([...f.tensors.keys()].sort()).toEqual(['W_dec', 'b_dec', 'encoder.bias', 'encoder.weight']);
    expect(f.info('encoder.weight').shape).toEqual([n, d]);
    f.close();
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    expect(cfg).toEqual({ activation: 'topk', expansion_factor: 2, normalize_decoder: true, num_latents: n, k, multi_topk: false, skip_connection: false, transcode: false, d_in: d });
    const back = importSparsify(dir);
    expect(Array.from(reconstruct(back, x, 7))).toEqual(Array.from(reconstruct(sae, x, 7)));
  });

  it('foreign or corrupt folders are refused with the file and field named', () => {
    const dir = tmp();
    exportSaeLens(randomSae(), dir);
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    writeJsonAtomic(join(dir, 'cfg.json'), { ...cfg, architecture: 'gated' });
    expect(() => importSaeLens(dir)).toThrow(/cfg.json: architecture is "gated"/);
    writeJsonAtomic(join(dir, 'cfg.json'), { ...cfg, d_sae: 11 });
    expect(() => importSaeLens(dir)).toThrow(/"W_enc" has shape \[6,10\], expected \[6,11\]/);
    const run = tmp();
    writeJsonAtomic(join(run, 'cfg.json'), { arch: 'topk', d: 'six' });
    expect(() => loadSae(run)).toThrow(/cfg.json: field "d"/);
  });
});
