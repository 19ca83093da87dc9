// --precision bf16: the encoder GEMM with bf16 inputs and f32 accumulation. Its numbers are
// checked wherever it runs: the tests use a backend that takes the bf16 path on any CPU (the
// addon widens bf16 to f32 for OpenBLAS where oneDNN has no native bf16, with the same
// products), so they test the arithmetic, not the speed. Measured here: top-k agreement with f32
// on real stories260K activations, and training that recovers the synthetic ground truth as f32
// training does.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Backend, getBackend } from '../src/compute/backend.js';
import { openData, parseDataSpec } from '../src/data/spec.js';
import { evaluateSae } from '../src/eval/metrics.js';
import { heldOutSynthetic } from '../src/experiments/common.js';
import { encode } from '../src/sae/encode.js';
import { loadSae } from '../src/sae/folder.js';
import { resolvePrecision } from '../src/sae/primitives.js';
import { parseTrainConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';
import { sharedPath } from './helpers.js';

const base = getBackend();
/** the bf16 arithmetic on any CPU (fast or widened) */
const be = new Backend(base.name, base.kernels, { fast: true, detail: `${base.bf16.detail} (forced on for the test)` });
const tmp = () => mkdtempSync(join(tmpdir(), 'saekit-precision-'));

/** Mean over rows of |top-k indices of a ∩ those of b| / k, for CSR codes of k entries a row. */
function agreement(a: { rowPtr: Int32Array; idx: Int32Array }, b: { rowPtr: Int32Array; idx: Int32Array }, rows: number): number {
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    const sa = new Set(Array.from(a.idx.subarray(a.rowPtr[r]!, a.rowPtr[r + 1]!)).filter((i) => i >= 0));
    const sb = Array.from(b.idx.subarray(b.rowPtr[r]!, b.rowPtr[r + 1]!)).filter((i) => i >= 0);
    const k = Math.max(sa.size, sb.length, 1);
    sum += sb.filter((i) => sa.has(i)).length / k;
  }
  return sum / Math.max(rows, 1);
}

describe('precision bf16', () => {
  it('falls back to f32 with a message where the backend has no native bf16 GEMM', () => {
    const slow = new Backend(base.name, base.kernels, { fast: false, detail: 'no AVX512_BF16 here' });
    expect(resolvePrecision(slow, 'bf16')).toBe('f32');
    expect(resolvePrecision(be, 'bf16')).toBe('bf16');
    expect(resolvePrecision(be, 'f32')).toBe('f32');
    expect(resolvePrecision(be, undefined)).toBe('f32');
  });

  it('trains to the same FVU and MMCS as f32 on synthetic data (f32 master weights, cfg.json records bf16)', async () => {
    const data = { d: 32, features: 128, active: 4, seed: 1 };
    const settings = { data: `synthetic:d=32,features=128,active=4,seed=1`, latents: 256, k: 4, batch: 1024, tokens: 600_000, logEvery: 50 };
    const scores: Record<string, { fvu: number; mmcs: number }> = {};
    for (const precision of ['f32', 'bf16'] as const) {
      const dir = tmp();
      const res = await train(be, parseTrainConfig({ ...settings, precision }, dir), { out: dir });
      const ev = evaluateSae(be, res.sae, heldOutSynthetic(be, data), 32_768);
      scores[precision] = { fvu: ev.fvu, mmcs: ev.mmcs! };
      const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
      expect(cfg.precision).toBe(precision === 'bf16' ? 'bf16' : undefined);
      const sae = loadSae(dir);
      expect(sae.cfg.precision).toBe(precision === 'bf16' ? 'bf16' : undefined);
      if (precision === 'bf16') {
        // inference (eval, index, live text) encodes at the SAE's own precision unless told otherwise
        const x = new Float32Array(64 * 32);
        heldOutSynthetic(be, data).read(x, 64);
        const asSaved = encode(be, sae, x, 64), asBf16 = encode(be, sae, x, 64, { precision: 'bf16' }), asF32 = encode(be, sae, x, 64, { precision: 'f32' });
        expect(Array.from(asSaved.recon)).toEqual(Array.from(asBf16.recon));
        expect(Array.from(asSaved.recon)).not.toEqual(Array.from(asF32.recon));
      }
    }
    console.log(`bf16 vs f32 training: FVU ${scores.bf16!.fvu.toFixed(4)} vs ${scores.f32!.fvu.toFixed(4)}, MMCS ${scores.bf16!.mmcs.toFixed(4)} vs ${scores.f32!.mmcs.toFixed(4)}`);
    expect(scores.f32!.mmcs).toBeGreaterThanOrEqual(0.95);
    // the stated tolerance (docs/design.md §7.1): FVU within 0.01 absolute, MMCS within 0.01
    expect(Math.abs(scores.bf16!.fvu - scores.f32!.fvu)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(scores.bf16!.mmcs - scores.f32!.mmcs)).toBeLessThanOrEqual(0.01);
  }, 120_000);

  it('the vae architecture refuses bf16 by name', async () => {
    const dir = tmp();
    await expect(train(be, parseTrainConfig({ arch: 'vae', data: 'synthetic:d=16,features=32', latents: 32, tokens: 4096, batch: 512, precision: 'bf16' }, dir), { out: dir }))
      .rejects.toThrow(/--precision: the vae architecture runs in f32 only/);
  });

  const stories = sharedPath('models/stories260K/stories260K.bin');
  const corpus = sharedPath('corpus/tinyshakespeare.txt');
  it.skipIf(!stories || !corpus)('selects the same top-k latents as f32 on real stories260K activations', async () => {
    // a TopK SAE trained in f32 on layer 2's residual stream, then held-out contexts encoded both ways
    const dir = tmp();
    const lm = (from: 'start' | 'end', tokens: number) => `lm:model=${stories},corpus=${corpus},layer=2,site=resid_post,ctx=64,batch=16,from=${from},tokens=${tokens}`;
    await train(be, parseTrainConfig({ data: lm('start', 160_000), latents: 1024, k: 16, batch: 1024, tokens: 160_000, logEvery: 50 }, dir), { out: dir });
    const sae = loadSae(dir);
    const src = await openData(parseDataSpec(lm('end', 8192)), be);
    const rows = 8192, x = new Float32Array(rows * sae.cfg.d);
    const got = src.read(x, rows);
    const f32 = encode(be, sae, x, got, { precision: 'f32' });
    const bf16 = encode(be, sae, x, got, { precision: 'bf16' });
    const agree = agreement(f32.z, bf16.z, got);
    // the FVU of each reconstruction against the rows themselves
    const fvu = (recon: Float32Array): number => {
      const d = sae.cfg.d, mean = new Float64Array(d);
      for (let r = 0; r < got; r++) for (let c = 0; c < d; c++) mean[c]! += x[r * d + c]! / got;
      let se = 0, tot = 0;
      for (let r = 0; r < got; r++) for (let c = 0; c < d; c++) { se += (x[r * d + c]! - recon[r * d + c]!) ** 2; tot += (x[r * d + c]! - mean[c]!) ** 2; }
      return se / tot;
    };
    const [f32Fvu, bf16Fvu] = [fvu(f32.recon), fvu(bf16.recon)];
    console.log(`bf16 vs f32 on stories260K layer 2 (${got} held-out rows, k=16, 1024 latents): top-k index agreement ${agree.toFixed(4)}, FVU ${bf16Fvu.toFixed(4)} vs ${f32Fvu.toFixed(4)}`);
    expect(agree).toBeGreaterThanOrEqual(0.98);
    expect(Math.abs(bf16Fvu - f32Fvu)).toBeLessThanOrEqual(0.01 * f32Fvu + 1e-3);
  }, 300_000);
});
