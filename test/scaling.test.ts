// Scaling-law fits recover the parameters of data made from them, with bootstrap intervals that
// cover the truth; the recipe reads a fits.json (or falls back to the published rule) and
// `train --recipe` takes its values where no flag is given.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootstrap, fitIrreducible, fitJoint, fitPower, jointLoss, type JointFit } from '../src/analysis/scaling.js';
import { readFits, recipeFor } from '../src/train/recipe.js';
import { Rng } from '../src/util/rng.js';

describe('scaling-law fits', () => {
  const N = [128, 256, 512, 1024, 2048, 4096];
  it('a power law, and a power law with an irreducible loss, are recovered (with 1% noise, inside the bootstrap interval)', () => {
    const p = fitPower(N, N.map((n) => 3e-3 * n ** -0.5));
    expect(p.p).toBeCloseTo(-0.5, 6);
    expect(p.c).toBeCloseTo(3e-3, 8);
    const rng = new Rng(3);
    const pts = N.map((n) => ({ n, loss: (2 * n ** -0.3 + 0.05) * (1 + 0.01 * rng.normal()) }));
    const f = fitIrreducible(pts.map((q) => q.n), pts.map((q) => q.loss));
    expect(f.alpha).toBeGreaterThan(0.25);
    expect(f.alpha).toBeLessThan(0.35);
    expect(f.irr).toBeGreaterThan(0.03);
    expect(f.irr).toBeLessThan(0.07);
    const [lo, hi] = bootstrap(pts, (s) => fitIrreducible(s.map((q) => q.n), s.map((q) => q.loss)).alpha);
    expect(lo).toBeLessThanOrEqual(0.3);
    expect(hi).toBeGreaterThanOrEqual(0.3);
  });

  it('Gao et al.\'s joint form is fitted back from points made with it', () => {
    const truth: JointFit = [0.5, 0.1, -0.35, -0.02, -3, -0.2];
    const pts = N.flatMap((n) => [4, 8, 16, 32].map((k) => ({ n, k, loss: jointLoss(truth, n, k) })));
    const fit = fitJoint(pts);
    for (const p of pts) expect(jointLoss(fit, p.n, p.k) / p.loss).toBeCloseTo(1, 2);
  });
});

describe('recipe', () => {
  it('the published rule without fits; a fits.json gives lr, tokens and the predicted FVU, with a warning outside its range', () => {
    const pub = recipeFor(16384);
    expect(pub.lr).toBeCloseTo(2e-4, 12);
    expect(pub.tokens).toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'saekit-recipe-'));
    const path = join(dir, 'fits.json');
    writeFileSync(path, JSON.stringify({ source: 'test', data: 'synthetic', d: 64, batch: 2048, lr: { c: 0.05, p: -0.5 }, tokens: { c: 1e4, p: 0.5 }, joint: [0.5, 0.1, -0.35, -0.02, -3, -0.2], latents: [128, 2048], ks: [4, 8, 16, 32] }));
    const r = recipeFor(1024, { fits: readFits(path), k: 8 });
    expect(r.lr).toBeCloseTo(0.05 / 32, 10);
    expect(r.tokens).toBe(400_000); // 320k to converge at constant lr, plus the 20% decay
    expect(r.batch).toBe(2048);
    expect(r.predictedFvu).toBeCloseTo(jointLoss([0.5, 0.1, -0.35, -0.02, -3, -0.2], 1024, 8), 10);
    expect(r.warnings).toEqual([]);
    expect(recipeFor(65536, { fits: readFits(path) }).warnings[0]).toMatch(/outside the fitted range 128–2048/);
    expect(() => readFits(join(dir, 'none.json'))).toThrow(/no such file/);
  });
});
