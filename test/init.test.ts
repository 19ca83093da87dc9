// Initialization (docs/design.md §4.1): encoder rows at a linear layer's default norm for the
// k-sparse codes, and for threshold and dense codes an encoder scaled so that the first
// reconstruction has the data's scale instead of many times it.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { SyntheticSource } from '../src/data/synthetic.js';
import { evaluateSae } from '../src/eval/metrics.js';
import { LINEAR_INIT_ROW_NORM } from '../src/sae/common.js';
import { initParams } from '../src/sae/init.js';
import { parseTrainConfig } from '../src/train/config.js';
import { readRunConfig } from '../src/train/run-config.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';

const be = getBackend();
const tmp = (): string => join(mkdtempSync(join(tmpdir(), 'saekit-init-')), 'run');
const data = 'synthetic:d=32,features=128,active=4';

describe('init', () => {
  it('the SAE\'s init draws numbers unrelated to the synthetic generator\'s at the same seed (it used to start at the true features)', async () => {
    // data seed 0, SAE seed 0, as many latents as features: the same normals would make every
    // initial decoder row a true feature (MMCS 1 before a single step)
    const out = tmp();
    const cfg = parseTrainConfig({ data, latents: 128, k: 4, tokens: 256, batch: 256, lr: 1e-12, seed: 0 });
    const res = await train(be, cfg, { out });
    const ev = evaluateSae(be, res.sae, new SyntheticSource({ d: 32, features: 128, active: 4, stream: 1 }, be), 1024);
    // 128 random unit directions in d = 32: the best match to a true feature is ~0.5
    expect(ev.mmcs!).toBeLessThan(0.7);
  });

  it('encoder rows have norm 1/√3 (a linear layer\'s default), decoder rows unit norm, in the same directions', () => {
    const d = 24, n = 40;
    const x = new Float32Array(64 * d);
    new SyntheticSource({ d, features: 32, active: 3 }, be).read(x, 64);
    const p = initParams(be, { d, n }, new Rng(3), x, 64);
    expect(LINEAR_INIT_ROW_NORM).toBeCloseTo(Math.sqrt(d * (1 / Math.sqrt(d)) ** 2 / 3), 12);
    const enc = be.rowNorms(p.W_enc, n, d), dec = be.rowNorms(p.W_dec, n, d);
    for (let i = 0; i < n; i++) {
      expect(enc[i]).toBeCloseTo(1 / Math.sqrt(3), 5);
      expect(dec[i]).toBeCloseTo(1, 5);
      let dot = 0;
      for (let c = 0; c < d; c++) dot += p.W_enc[i * d + c]! * p.W_dec[i * d + c]!;
      expect(dot / (enc[i]! * dec[i]!)).toBeCloseTo(1, 5);
    }
  });

  it('a rank of a latent split draws its own latents of the single process\'s init (SAE, random encoder, transcoder)', () => {
    const d = 12, n = 50, dOut = 7;
    const x = new Rng(9).normals(32 * dOut);
    for (const [cfg, enc] of [[{ d, n }, 'transpose'], [{ d, n }, 'random'], [{ d, n, dOut }, 'transpose']] as const) {
      const whole = initParams(be, cfg, new Rng(4), x, 32, enc);
      for (const [lo, hi] of [[0, 17], [17, 33], [33, 50]]) {
        const part = initParams(be, cfg, new Rng(4), x, 32, enc, { lo, hi });
        const w = cfg.dOut ?? d;
        expect(Array.from(part.W_dec)).toEqual(Array.from(whole.W_dec.subarray(lo * w, hi * w)));
        expect(Array.from(part.W_enc)).toEqual(Array.from(whole.W_enc.subarray(lo * d, hi * d)));
        expect(part.b_enc.length).toBe(hi - lo);
        expect(Array.from(part.b_dec)).toEqual(Array.from(whole.b_dec));
      }
    }
  });

  it.each([
    ['relu', {}],
    ['jumprelu', { theta0: 0.01 }],
    ['vae', {}],
  ] as const)('%s: after one step the code reconstructs at the data\'s scale (FVU < 1), not many times it', async (arch, extra) => {
    const out = tmp();
    const res = await train(be, parseTrainConfig({ arch, data, latents: 512, tokens: 2048, batch: 1024, logEvery: 1, ...extra }), { out, stopAfterSteps: 1 });
    // with the unscaled init every latent above threshold fires and the reconstruction is many
    // times the input (FVU of order 10–100 at this width); the VAE is scored on its mean code
    const held = new SyntheticSource({ d: 32, features: 128, active: 4, stream: 1 }, be);
    expect(evaluateSae(be, res.sae, held, 2048).fvu).toBeLessThan(1);
    if (arch !== 'vae') expect(JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n')[0]!).fvu).toBeLessThan(1);
    const ratio = Number(readRunConfig(out)!.resolved.init_recon_ratio);
    expect(ratio).toBeGreaterThan(2);
  });
});
