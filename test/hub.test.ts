// The hub: published SAE layouts imported by name from a local hub that speaks the Hugging Face
// URL layout, compared with the encodings of the weights they were written from; resumed and
// verified downloads; offline use of the cache; push then import; a model folder by hf: name;
// `saekit eval hf:…` of a Gemma-Scope-layout SAE end to end.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findSaes, hubListing, locateSae, openSae, pushRun, readSaeFolder, saeLensMeta } from '../src/app/hub.js';
import { referenceBackend as be, type SparseRows } from '../src/compute/backend.js';
import { exportSaeLens } from '../src/formats/saelens.js';
import { exportSparsify } from '../src/formats/sparsify.js';
import { parseHubRef } from '../src/hub/client.js';
import { readHfModel } from '../src/lm/hf.js';
import { downloadHfModel } from '../src/lm/hub.js';
import type { Sae } from '../src/sae/common.js';
import { encode } from '../src/sae/encode.js';
import { saveSae } from '../src/sae/folder.js';
import { Rng } from '../src/util/rng.js';
import { expectClose, sharedPath, writeHfLlama } from './helpers.js';
import { LocalHub } from './helpers/local-hub.js';

const root = join(import.meta.dirname, '..');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-hub-'));
const hub = new LocalHub();
const TOKEN = 'hf_test_token';

function folderFiles(dir: string, prefix: string): Record<string, Buffer> {
  return Object.fromEntries(readdirSync(dir).map((f) => [`${prefix}${f}`, readFileSync(join(dir, f))]));
}

function randomSae(arch: 'topk' | 'jumprelu' | 'relu', d: number, n: number, seed: number): Sae {
  const rng = new Rng(seed);
  const W_dec = rng.normals(n * d);
  be.normalizeRows(W_dec, n, d);
  const params = { W_enc: rng.normals(n * d, 0.3), b_enc: rng.normals(n, 0.1), W_dec, b_dec: rng.normals(d, 0.2) };
  return {
    cfg: { format: 'saekit-sae', arch, d, n, k: arch === 'topk' ? 4 : 0, multiTopK: false, data: 'synthetic' },
    params: arch === 'jumprelu' ? { ...params, threshold: Float32Array.from({ length: n }, () => 0.2 + 0.3 * rng.uniform()) } : params,
  };
}

/** codes and reconstructions of two SAEs on the same rows, compared */
function expectSameEncoding(got: Sae, want: Sae, label: string, tol = 1e-5): void {
  const B = 16, x = new Rng(99).normals(B * want.cfg.d);
  const a = encode(be, got, x, B), b = encode(be, want, x, B);
  expect(codes(a.z), `${label}: active latents`).toEqual(codes(b.z).map((row) => row.map(([i, v]) => [i, expect.closeTo(v, 4)])));
  expect(b.z.idx.length).toBeGreaterThan(B);
  expectClose(a.recon, b.recon, { rtol: tol, atol: tol, label: `${label}: reconstruction` });
}

/** each row's (latent, activation) pairs by latent */
function codes(z: SparseRows): [number, number][][] {
  return Array.from({ length: z.rows }, (_, r) => {
    const row: [number, number][] = [];
    for (let e = z.rowPtr[r]!; e < z.rowPtr[r + 1]!; e++) row.push([z.idx[e]!, z.vals[e]!]);
    return row.sort((p, q) => p[0] - q[0]);
  });
}

// npy v1 of a float32 array, as numpy.save writes it
function npy(shape: number[], data: Float32Array): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

// A Gemma Scope JumpReLU as published: pre = x·W_enc + b_enc (no b_dec subtracted)
const D = 64, GN = 96;
const gemma = (() => {
  const rng = new Rng(31);
  const W_enc = rng.normals(D * GN, 0.25), W_dec = rng.normals(GN * D, 0.2);
  return { W_enc, W_dec, b_enc: rng.normals(GN, 0.05), b_dec: rng.normals(D, 0.1), threshold: Float32Array.from({ length: GN }, () => 0.3 + 0.4 * rng.uniform()) };
})();
function gemmaReference(x: Float32Array, B: number): { recon: Float32Array; active: number[][] } {
  const recon = new Float32Array(B * D), active: number[][] = [];
  for (let r = 0; r < B; r++) {
    const on: number[] = [];
    for (let i = 0; i < GN; i++) {
      let pre = gemma.b_enc[i]!;
      for (let c = 0; c < D; c++) pre += x[r * D + c]! * gemma.W_enc[c * GN + i]!;
      if (pre > gemma.threshold[i]!) {
        on.push(i);
        for (let c = 0; c < D; c++) recon[r * D + c]! += pre * gemma.W_dec[i * D + c]!;
      }
    }
    for (let c = 0; c < D; c++) recon[r * D + c]! += gemma.b_dec[c]!;
    active.push(on);
  }
  return { recon, active };
}

const saes = { topk: randomSae('topk', 16, 48, 1), jumprelu: randomSae('jumprelu', 16, 48, 2), relu: randomSae('relu', 16, 48, 3), l0: randomSae('topk', 16, 48, 4), l1: randomSae('topk', 16, 48, 5) };
const GEMMA_REPO = 'google/gemma-scope-2b-pt-res', GEMMA_PATH = 'layer_1/width_16k/average_l0_5';

beforeAll(async () => {
  await hub.start();
  hub.token = TOKEN;
  // SAELens: two SAEs in one repo, one per hook point
  const a = tmp(), b = tmp(), c = tmp();
  exportSaeLens(saes.topk, a, { hookName: 'blocks.1.hook_resid_post', modelName: 'stories260K', contextSize: 64 });
  exportSaeLens(saes.jumprelu, b, { hookName: 'blocks.2.hook_mlp_out' });
  exportSaeLens(saes.relu, c, { hookName: 'blocks.0.ln2.hook_normalized' });
  hub.putRepo('org/saelens-saes', { ...folderFiles(a, 'blocks.1.hook_resid_post/'), ...folderFiles(b, 'blocks.2.hook_mlp_out/'), ...folderFiles(c, 'blocks.0.ln2.hook_normalized/'), 'README.md': '# SAEs\n' });
  // sparsify: one folder per layer and the training config at the root
  const s0 = tmp(), s1 = tmp();
  exportSparsify(saes.l0, s0);
  exportSparsify(saes.l1, s1);
  hub.putRepo('EleutherAI/sae-tiny', { ...folderFiles(s0, 'layers.0/'), ...folderFiles(s1, 'layers.1/'), 'config.json': JSON.stringify({ model: 'stories260K', ctx_len: 64, dataset: 'tinystories' }) });
  // Gemma Scope: params.npz written here, as numpy.savez writes it
  const npz = zipSync({
    'W_enc.npy': npy([D, GN], gemma.W_enc), 'W_dec.npy': npy([GN, D], gemma.W_dec), 'b_enc.npy': npy([GN], gemma.b_enc),
    'b_dec.npy': npy([D], gemma.b_dec), 'threshold.npy': npy([GN], gemma.threshold),
  }, { level: 0 });
  hub.putRepo(GEMMA_REPO, { [`${GEMMA_PATH}/params.npz`]: Buffer.from(npz), 'README.md': '# Gemma Scope (test layout)\n' });
});
afterAll(() => hub.stop());
beforeEach(() => {
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_TOKEN = TOKEN;
  process.env.HF_HUB_CACHE = tmp();
  delete process.env.HF_HUB_OFFLINE;
});

describe('hub references and listings', () => {
  it('parses hf:ORG/REPO[/PATH][@REV] and refuses anything else by name', () => {
    expect(parseHubRef('hf:a/b')).toEqual({ repo: 'a/b', path: '', revision: 'main' });
    expect(parseHubRef('hf:a/b/layer_3/width_16k@v1')).toEqual({ repo: 'a/b', path: 'layer_3/width_16k', revision: 'v1' });
    expect(() => parseHubRef('hf:justaname')).toThrow(/expected hf:ORG\/NAME/);
  });

  it('finds every SAE folder of a repo with its layout, and a repo of several SAEs asks for one by name', async () => {
    const lines = await hubListing('hf:org/saelens-saes');
    expect(lines[0]).toMatch(/3 SAEs/);
    expect(lines.join('\n')).toMatch(/blocks\.2\.hook_mlp_out\s+saelens/);
    await expect(locateSae(parseHubRef('hf:org/saelens-saes'))).rejects.toThrow(/holds 3 SAEs; name one[\s\S]*hf:org\/saelens-saes\/blocks\.0\.ln2\.hook_normalized/);
    const g = findSaes([{ path: `${GEMMA_PATH}/params.npz`, size: 1, etag: '', lfs: true }]);
    expect(g).toMatchObject([{ folder: GEMMA_PATH, layout: 'gemmascope' }]);
  });
});

describe('published SAEs by name', () => {
  it('SAELens: each architecture encodes as the weights it was written from; hook names become layer and site', async () => {
    const topk = await openSae('hf:org/saelens-saes/blocks.1.hook_resid_post');
    expectSameEncoding(topk, saes.topk, 'topk');
    expect(topk.cfg.origin).toMatchObject({ format: 'saelens', model: 'stories260K', layer: 1, site: 'resid_post', context_size: 64, imported_from: 'hf:org/saelens-saes/blocks.1.hook_resid_post' });
    const jr = await openSae('hf:org/saelens-saes/blocks.2.hook_mlp_out');
    expectSameEncoding(jr, saes.jumprelu, 'jumprelu');
    expect(jr.cfg.origin).toMatchObject({ layer: 2, site: 'mlp_out' });
    const relu = await openSae('hf:org/saelens-saes/blocks.0.ln2.hook_normalized');
    expectSameEncoding(relu, saes.relu, 'relu');
    expect(relu.cfg.origin).toMatchObject({ layer: 0, site: 'mlp_in' });
  });

  it('SAELens configs from before 6.0, decoder-norm rescaling and expected_average_only_in normalization fold into the same SAE', () => {
    // the SAE SAELens would run: x·s in, TopK on (x·s − b_dec)·W_enc + b_enc scaled by ‖W_dec_i‖, acts/‖W_dec_i‖ decoded
    const dir = tmp(), s = 0.37, src = randomSae('topk', 16, 48, 9);
    const rng = new Rng(3);
    for (let e = 0; e < src.params.W_dec.length; e++) src.params.W_dec[e]! *= 0.5 + rng.uniform(); // rows of unequal norm
    exportSaeLens(src, dir, {});
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    // a 5.x config: hook_point, activation_fn_str/kwargs, boolean normalize_activations, no architecture
    const { architecture: _a, k: _k, metadata: _m, ...rest } = cfg;
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ ...rest, hook_point: 'blocks.3.hook_resid_pre', activation_fn_str: 'topk', activation_fn_kwargs: { k: 4 }, normalize_activations: true, rescale_acts_by_decoder_norm: true, sae_lens_version: '5.9.1' }));
    expect(() => openSaeSync(dir)).toThrow(/expected_average_only_in.*--norm-scaling-factor/);
    const got = openSaeSync(dir, s);
    expect(got.cfg.origin).toMatchObject({ layer: 3, site: 'resid_pre', hook_name: 'blocks.3.hook_resid_pre' });
    // reference, transcribed from SAELens's TopKSAE.encode/decode
    const B = 8, x = new Rng(12).normals(B * 16), n = 48, d = 16;
    const norms = Array.from({ length: n }, (_, i) => Math.hypot(...src.params.W_dec.subarray(i * d, (i + 1) * d)));
    const want = new Float32Array(B * d);
    for (let r = 0; r < B; r++) {
      const pre = Array.from({ length: n }, (_, i) => {
        let v = src.params.b_enc[i]!;
        for (let c = 0; c < d; c++) v += (x[r * d + c]! * s - src.params.b_dec[c]!) * src.params.W_enc[i * d + c]!;
        return v * norms[i]!;
      });
      const top = pre.map((v, i) => [v, i] as const).sort((p, q) => q[0] - p[0]).slice(0, 4);
      for (let c = 0; c < d; c++) want[r * d + c] = src.params.b_dec[c]!;
      for (const [v, i] of top) if (v > 0) for (let c = 0; c < d; c++) want[r * d + c]! += (v / norms[i]!) * src.params.W_dec[i * d + c]!;
      for (let c = 0; c < d; c++) want[r * d + c]! /= s; // SAELens's output is in the normalized units; folded, x's
    }
    expectClose(encode(be, got, x, B).recon, want, { rtol: 1e-4, atol: 1e-4, label: 'folded reconstruction' });
  });

  it('sparsify: a layer of a multi-layer repo by /layers.N, with the model and context from the root config.json', async () => {
    const l1 = await openSae('hf:EleutherAI/sae-tiny/layers.1');
    expectSameEncoding(l1, saes.l1, 'sparsify layers.1');
    expect(l1.cfg.origin).toMatchObject({ format: 'sparsify', model: 'stories260K', layer: 1, site: 'resid_post', context_size: 64, dataset: 'tinystories' });
  });

  it('sparsify transcoders (transcode=true) round trip as saekit transcoders reading the MLP input', () => {
    const tc = randomSae('topk', 16, 48, 6);
    tc.cfg.dOut = 16;
    const dir = join(tmp(), 'layers.3.mlp');
    exportSparsify(tc, dir);
    expect(JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8')).transcode).toBe(true);
    const back = openSaeSync(dir);
    expect(back.cfg.dOut).toBe(16);
    expect(back.cfg.origin).toMatchObject({ layer: 3, site: 'mlp_in' });
    expectSameEncoding(back, tc, 'sparsify transcoder');
  });

  it('Gemma Scope: params.npz as published, encoded as its own formula encodes', async () => {
    const sae = await openSae(`hf:${GEMMA_REPO}/${GEMMA_PATH}`);
    expect(sae.cfg).toMatchObject({ arch: 'jumprelu', d: D, n: GN, origin: { format: 'gemmascope', model: 'google/gemma-2-2b', layer: 1, site: 'resid_post', hook_name: 'blocks.1.hook_resid_post' } });
    const B = 12, x = new Rng(4).normals(B * D, 1.5);
    const got = encode(be, sae, x, B), want = gemmaReference(x, B);
    expect(codes(got.z).map((row) => row.map(([i]) => i))).toEqual(want.active);
    expect(want.active.flat().length).toBeGreaterThan(B); // the rows do fire latents
    expectClose(got.recon, want.recon, { rtol: 1e-4, atol: 1e-4, label: 'Gemma Scope reconstruction' });
  });
});

const openSaeSync = (dir: string, normScale?: number): Sae => readSaeFolder(dir, dir, normScale === undefined ? {} : { normScale });

describe('the download cache', () => {
  const path = 'blocks.1.hook_resid_post/sae_weights.safetensors';

  it('an interrupted download resumes with a range request from where it stopped, and the file is verified', async () => {
    hub.cut.set(path, 1000);
    await expect(openSae('hf:org/saelens-saes/blocks.1.hook_resid_post')).rejects.toThrow();
    const partial = readdirSync(join(process.env.HF_HUB_CACHE!, 'models--org--saelens-saes', 'blobs')).filter((f) => f.endsWith('.incomplete'));
    expect(partial).toHaveLength(1);
    // what reached the disk before the cut (the 1000 bytes sent) is where the range request starts
    const kept = statSync(join(process.env.HF_HUB_CACHE!, 'models--org--saelens-saes', 'blobs', partial[0]!)).size;
    expect(kept).toBe(1000);
    hub.requests.length = 0;
    const sae = await openSae('hf:org/saelens-saes/blocks.1.hook_resid_post');
    expect(hub.requests.some((r) => new RegExp(`^GET /cdn/[0-9a-f]+ bytes=${kept}-`).test(r))).toBe(true);
    expectSameEncoding(sae, saes.topk, 'resumed');
  });

  it('a corrupted download is refused by its sha256 and removed; the next try downloads it anew', async () => {
    hub.corrupt.add(path);
    await expect(openSae('hf:org/saelens-saes/blocks.1.hook_resid_post')).rejects.toThrow(/sha256 is [0-9a-f]{64}, the hub lists [0-9a-f]{64}; the file was removed/);
    expectSameEncoding(await openSae('hf:org/saelens-saes/blocks.1.hook_resid_post'), saes.topk, 'after corruption');
  });

  it('offline (HF_HUB_OFFLINE=1, or the hub unreachable) serves the cache and names what it lacks', async () => {
    await openSae('hf:EleutherAI/sae-tiny/layers.0');
    process.env.HF_HUB_OFFLINE = '1';
    hub.requests.length = 0;
    expectSameEncoding(await openSae('hf:EleutherAI/sae-tiny/layers.0'), saes.l0, 'offline');
    expect(hub.requests).toEqual([]);
    await expect(openSae('hf:EleutherAI/sae-tiny/layers.1')).rejects.toThrow(/not in the cache .*HF_HUB_OFFLINE/);
    delete process.env.HF_HUB_OFFLINE;
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9'; // nothing listens there
    expectSameEncoding(await openSae('hf:EleutherAI/sae-tiny/layers.0'), saes.l0, 'unreachable hub');
    await expect(openSae('hf:org/saelens-saes/blocks.1.hook_resid_post')).rejects.toThrow(/cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  it('a missing or wrong token is named', async () => {
    process.env.HF_TOKEN = 'hf_wrong';
    await expect(openSae('hf:EleutherAI/sae-tiny/layers.0')).rejects.toThrow(/refused access \(401\); set HF_TOKEN/);
    await expect(openSae('hf:nobody/nothing')).rejects.toThrow(/HF_TOKEN|not found/);
  });
});

describe('SAELens metadata from the data\'s record', () => {
  it('an SAE trained on a model\'s activations exports hook_name, model_name, context_size and dataset_path', () => {
    const sae = randomSae('topk', 16, 48, 30);
    sae.cfg.data = 'lm:model=models/m.bin,corpus=text/c.txt,layer=2,site=mlp_in,ctx=64';
    expect(saeLensMeta(sae)).toEqual({ hookName: 'blocks.2.ln2.hook_normalized', modelName: 'models/m.bin', contextSize: 64, dataset: 'text/c.txt' });
    const dir = tmp();
    exportSaeLens(sae, dir, saeLensMeta(sae, { modelName: 'stories260K' }));
    const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
    expect(cfg.metadata).toMatchObject({ hook_name: 'blocks.2.ln2.hook_normalized', model_name: 'stories260K', context_size: 64, dataset_path: 'text/c.txt' });
    expect(cfg.normalize_activations).toBe('none');
    // and reads back to the same layer and site
    expect(openSaeSync(dir).cfg.origin).toMatchObject({ layer: 2, site: 'mlp_in', model: 'stories260K', context_size: 64 });
  });
});

describe('push', () => {
  it('a run pushed in SAELens layout with a model card imports back to the same SAE', async () => {
    const run = tmp();
    const sae = randomSae('topk', 16, 48, 21);
    sae.cfg.data = 'synthetic:d=16';
    saveSae(run, sae);
    writeFileSync(join(run, 'eval.json'), JSON.stringify({ tokens: 4096, fvu: 0.1234, normalized_mse: 0.1, l0: 4, never_fired_fraction: 0.02 }));
    writeFileSync(join(run, 'loss.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    const { files } = await pushRun(run, 'hf:me/my-saes/blocks.0.hook_resid_post', { format: 'saelens', meta: { hookName: 'blocks.0.hook_resid_post' } });
    expect(files).toEqual(['README.md', 'cfg.json', 'loss.svg', 'sae_weights.safetensors']);
    const card = hub.snapshot('me/my-saes')!.files.get('blocks.0.hook_resid_post/README.md')!.toString();
    expect(card).toMatch(/library_name: saekit/);
    expect(card).toMatch(/\| FVU \| 0\.12340 \|/);
    expect(card).toMatch(/!\[loss\]\(loss\.svg\)/);
    expectSameEncoding(await openSae('hf:me/my-saes/blocks.0.hook_resid_post'), sae, 'pushed and imported');
    // sparsify layout, into its own folder name
    await pushRun(run, 'hf:me/my-saes', { format: 'sparsify' });
    expect(hub.snapshot('me/my-saes')!.files.has('sae.safetensors')).toBe(true);
    delete process.env.HF_TOKEN;
    await expect(pushRun(run, 'hf:me/other', { format: 'saekit' })).rejects.toThrow(/set HF_TOKEN/);
  });
});

describe('models by hf: name', () => {
  const bin = sharedPath('models/stories260K/stories260K.bin');
  it.skipIf(!bin)('the Hugging Face layout of stories260K downloads into the cache by hf: name and gives the llama2.c logits', async () => {
    const { readLlama2c } = await import('../src/lm/llama2c.js');
    const { Transformer } = await import('../src/lm/transformer.js');
    const { config, weights } = readLlama2c(bin!);
    const dir = tmp();
    writeHfLlama(config, weights, dir);
    hub.putRepo('karpathy/stories260K-hf', {
      'config.json': readFileSync(join(dir, 'config.json')), 'model.safetensors': readFileSync(join(dir, 'model.safetensors')),
      // the model's own tokenizer is llama2.c's tok512.bin; any tokenizer.json completes the HF layout here
      'tokenizer.json': '{}', 'README.md': 'stories260K in the Hugging Face layout',
    });
    const local = await downloadHfModel('karpathy/stories260K-hf', () => undefined);
    expect(readdirSync(local).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    const hf = readHfModel(local);
    const tokens = Int32Array.from([1, 403, 407, 261, 378, 432, 383, 286]);
    const ref = new Transformer(config, weights, be, bin!), got = new Transformer(hf.config, hf.weights, be, local);
    expectClose(got.logits(got.forward(tokens, 1)!, 0, tokens.length), ref.logits(ref.forward(tokens, 1)!, 0, tokens.length), { rtol: 1e-4, atol: 1e-4, label: 'hf: logits' });
  });

  const corpus = sharedPath('corpus/tinyshakespeare.txt');
  it.skipIf(!bin || !corpus)('saekit eval hf:… of a Gemma-Scope-layout SAE runs end to end on a model (layer and site from the SAE)', async () => {
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((ok) => {
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'eval', `hf:${GEMMA_REPO}/${GEMMA_PATH}`,
        '--model', bin!, '--corpus', corpus!, '--ctx', '64', '--contexts', '4', '--tokens', '2048', '--json'], { cwd: root, env: { ...process.env, CI: 'true' } });
      let stdout = '', stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('close', (code) => ok({ code, stdout, stderr }));
    });
    expect(out.stderr).not.toMatch(/error/);
    expect(out.code).toBe(0);
    const res = JSON.parse(out.stdout.trim().split('\n').pop()!);
    expect(res.run).toBe(`hf:${GEMMA_REPO}/${GEMMA_PATH}`);
    expect(res.data).toMatch(/layer=1/);
    expect(res.data).toMatch(/site=resid_post/);
    expect(Number.isFinite(res.fvu)).toBe(true);
    expect(Number.isFinite(res.downstream.ce_spliced)).toBe(true);
  });
});
