// Dictionary analyses scored against synthetic ground truth.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { opposingDirections } from '../src/analysis/opposing.js';
import { getBackend } from '../src/compute/backend.js';
import { SyntheticSource } from '../src/data/synthetic.js';
import { groundTruthRecovery } from '../src/eval/metrics.js';
import { parseTrainConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';

const be = getBackend();

describe('opposing directions', () => {
  it('finds every planted antipodal pair of a trained SAE and nothing spurious', async () => {
    const pairs = 8, d = 32, n = 256;
    const opts = { d, features: 128, active: 4, antipodal: pairs, seed: 4 };
    const out = mkdtempSync(join(tmpdir(), 'saekit-opp-'));
    const cfg = parseTrainConfig({ data: `synthetic:${Object.entries(opts).map(([k, v]) => `${k}=${v}`).join(',')}`, latents: n, k: 4, batch: 1024, tokens: 1_500_000 });
    const { sae } = await train(be, cfg, { out });
    const truth = new SyntheticSource(opts, be).truth;
    expect(groundTruthRecovery(be, truth, sae.params.W_dec, n, d).mmcs).toBeGreaterThan(0.95);
    // which latent best matches each true feature
    const best = Array.from({ length: truth.m }, (_, f) => {
      let arg = -1, top = -Infinity;
      for (let i = 0; i < n; i++) {
        let c = 0;
        for (let t = 0; t < d; t++) c += truth.features[f * d + t]! * sae.params.W_dec[i * d + t]!;
        if (c > top) { top = c; arg = i; }
      }
      return arg;
    });
    const res = opposingDirections(be, Float32Array.from(sae.params.W_dec), n, d, [-0.9, -0.7]);
    const found = new Set(res.pairs.filter((p) => p.cos < -0.9).map((p) => `${p.i},${p.j}`));
    const planted = new Set(Array.from({ length: pairs }, (_, j) => {
      const [a, b] = [best[2 * j]!, best[2 * j + 1]!];
      return `${Math.min(a, b)},${Math.max(a, b)}`;
    }));
    expect([...planted].filter((p) => !found.has(p)), 'planted pairs not found').toEqual([]);
    expect([...found].filter((p) => !planted.has(p)), 'spurious pairs').toEqual([]);
    expect(res.counts[0]).toEqual({ threshold: -0.9, latents: 2 * pairs });
  });
});
