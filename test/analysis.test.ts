// Dictionary analyses scored against synthetic ground truth.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchScales } from '../src/analysis/matching.js';
import { opposingDirections } from '../src/analysis/opposing.js';
import { combine, stitch } from '../src/analysis/stitch.js';
import type { Sae } from '../src/sae/common.js';
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
    expect(groundTruthRecovery(be, truth, sae).mmcs).toBeGreaterThan(0.95);
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

/** An SAE whose decoder (and encoder) rows are the given vectors. */
function saeOf(rows: number[][]): Sae {
  const d = rows[0]!.length, n = rows.length;
  const W = Float32Array.from(rows.flat());
  be.normalizeRows(W, n, d);
  return { cfg: { format: 'saekit-sae', arch: 'topk', d, n, k: 1, multiTopK: false, data: 'test' },
    params: { W_enc: Float32Array.from(W), b_enc: new Float32Array(n), W_dec: W, b_dec: new Float32Array(d) } };
}

describe('splitting vs discovery, and stitching', () => {
  // small: e0, e1. large: two children of e0, a copy of e1, and a new direction e3
  const small = saeOf([[1, 0, 0, 0], [0, 1, 0, 0]]);
  const large = saeOf([[1, 0, 0.4, 0], [1, 0, -0.4, 0], [0, 1, 0.05, 0], [0, 0, 0, 1]]);

  it('classifies children as split, a copy as kept and a new direction as discovered', () => {
    const m = matchScales(be, small, large);
    expect(m.cls).toEqual(['split', 'split', 'kept', 'discovered']);
    expect(Array.from(m.parent.subarray(0, 3))).toEqual([0, 0, 1]);
    expect(m.fractions).toEqual({ split: 0.5, discovered: 0.25, kept: 0.25 });
  });

  it('stitches: add the discovered latent, swap the split parent for its children', () => {
    const m = matchScales(be, small, large);
    const rowsOf = (sae: Sae) => Array.from({ length: sae.cfg.n }, (_, i) => Array.from(sae.params.W_dec.subarray(i * 4, (i + 1) * 4)));
    expect(rowsOf(stitch(small, large, m, 'add-discovered'))).toEqual([...rowsOf(small), rowsOf(large)[3]]);
    expect(rowsOf(stitch(small, large, m, 'swap-splits'))).toEqual([rowsOf(small)[1], rowsOf(large)[0], rowsOf(large)[1]]);
    const both = stitch(small, large, m, 'both');
    expect(both.cfg.n).toBe(4);
    expect(Array.from(both.params.b_dec)).toEqual(Array.from(small.params.b_dec));
    expect(combine(small, [1], large, [3], 'x').cfg).toMatchObject({ n: 2, k: 1, d: 4 });
  });
});
