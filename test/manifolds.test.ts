// Multi-dimensional features: the synthetic circles and spheres have the stated structure, the
// irreducibility indices separate a line from a circle, and `analyze manifolds` recovers the
// planted circles from a trained TopK SAE (recall and precision against the truth planes).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findManifolds, mixtureIndex, separabilityIndex } from '../src/analysis/manifolds.js';
import { getBackend } from '../src/compute/backend.js';
import { SyntheticSource } from '../src/data/synthetic.js';
import { parseTrainConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';

const be = getBackend();

describe('synthetic circles and spheres', () => {
  it('each writes r·(a point of its circle or sphere) in its own orthonormal subspace, r in [minMag, maxMag], φ on the stated grid', () => {
    const src = new SyntheticSource({ d: 24, features: 8, active: 0.01, circles: 2, circlePoints: 12, spheres: 1, manifoldProb: 0.5, noise: 0 }, be);
    const ms = src.truth.manifolds!;
    expect(ms.map((m) => m.dim)).toEqual([2, 2, 3]);
    const basis = ms.flatMap((m) => Array.from({ length: m.dim }, (_, q) => m.basis.subarray(q * 24, (q + 1) * 24)));
    for (let a = 0; a < basis.length; a++) for (let b = 0; b < basis.length; b++) {
      const dot = basis[a]!.reduce((s, v, c) => s + v * basis[b]![c]!, 0);
      expect(dot).toBeCloseTo(a === b ? 1 : 0, 5);
    }
    const rows = 2000, x = new Float32Array(rows * 24);
    src.read(x, rows);
    const vals = src.lastManifoldValues;
    // rows where a (rare) linear feature also fired leak into the planes: all but a few agree exactly
    let active = 0, agree = 0;
    for (let r = 0; r < rows; r++) {
      ms.forEach((m, j) => {
        const coords = Array.from({ length: m.dim }, (_, q) => basis[ms.slice(0, j).reduce((a, mm) => a + mm.dim, 0) + q]!.reduce((s, v, c) => s + v * x[r * 24 + c]!, 0));
        const norm = Math.hypot(...coords), phi = vals[(r * 3 + j) * 2]!;
        if (Number.isNaN(phi)) return;
        active++;
        if (m.dim === 2) expect(Math.round((phi * 6) / Math.PI) - (phi * 6) / Math.PI).toBeCloseTo(0, 5); // multiples of 30°
        const ok = norm >= 0.5 - 1e-4 && norm <= 1.5 + 1e-4 && (m.dim === 2
          ? Math.abs(coords[0]! / norm - Math.cos(phi)) < 1e-4 && Math.abs(coords[1]! / norm - Math.sin(phi)) < 1e-4
          : Math.abs(coords[2]! / norm - Math.cos(vals[(r * 3 + j) * 2 + 1]!)) < 1e-4);
        if (ok) agree++;
      });
    }
    expect(agree / active).toBeGreaterThan(0.97);
    expect(active / (rows * 3)).toBeGreaterThan(0.45);
    expect(active / (rows * 3)).toBeLessThan(0.55);
    // without circles and spheres, the rows (and the description) are what they were
    const plain = new SyntheticSource({ d: 24, features: 8, active: 2 }, be), again = new SyntheticSource({ d: 24, features: 8, active: 2, circles: 0 }, be);
    const a = new Float32Array(240), b = new Float32Array(240);
    plain.read(a, 10); again.read(b, 10);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(plain.description).not.toMatch(/circle|manifold/);
  });
});

describe('irreducibility indices', () => {
  const rng = new Rng(5);
  const standardize = (p: Float32Array, n: number): Float32Array => {
    for (let q = 0; q < 2; q++) {
      let mu = 0, sd = 0;
      for (let i = 0; i < n; i++) mu += p[2 * i + q]! / n;
      for (let i = 0; i < n; i++) sd += (p[2 * i + q]! - mu) ** 2 / n;
      for (let i = 0; i < n; i++) p[2 * i + q] = (p[2 * i + q]! - mu) / Math.sqrt(sd);
    }
    return p;
  };
  const n = 3000;
  it('points on a line mix (M near 1); a circle of twelve values does not (M low, S high); independent coordinates separate (S near 0)', () => {
    const line = new Float32Array(2 * n), circle = new Float32Array(2 * n), indep = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      const t = rng.normal();
      line[2 * i] = t; line[2 * i + 1] = 0.5 * t;
      const phi = (2 * Math.PI * rng.int(12)) / 12, r = 0.5 + rng.uniform();
      circle[2 * i] = r * Math.cos(phi); circle[2 * i + 1] = r * Math.sin(phi);
      indep[2 * i] = rng.normal(); indep[2 * i + 1] = rng.normal();
    }
    expect(mixtureIndex(standardize(line, n), n)).toBeGreaterThan(0.95);
    const c = standardize(circle, n);
    expect(mixtureIndex(c, n)).toBeLessThan(0.35);
    expect(separabilityIndex(c, n)).toBeGreaterThan(0.2);
    expect(separabilityIndex(standardize(indep, n), n)).toBeLessThan(0.05);
  });
});

describe('finding the planted circles in a trained SAE', () => {
  it('groups of a TopK SAE on data with four circles: most circles found, every irreducible group a circle', async () => {
    const data = 'synthetic:d=64,features=1024,active=4,circles=4,circlePoints=12,manifoldProb=0.15';
    const { sae } = await train(be, parseTrainConfig({ data, latents: 512, k: 8, tokens: 1_000_000, batch: 2048 }), { out: mkdtempSync(join(tmpdir(), 'saekit-circles-')), quiet: true });
    const src = new SyntheticSource({ d: 64, features: 1024, active: 4, circles: 4, circlePoints: 12, manifoldProb: 0.15, stream: 1 }, be);
    const rows = 20000, x = new Float32Array(rows * 64);
    src.read(x, rows);
    const rep = findManifolds(be, sae, x, rows, { truth: src.truth });
    console.log(`planted circles: recall ${rep.truth!.recall}, precision ${rep.truth!.precision}; groups ${rep.groups.map((g) => `${g.latents.length}${g.irreducible ? '*' : ''}`).join(' ')}`);
    expect(rep.truth!.recall).toBeGreaterThanOrEqual(0.5);
    expect(rep.truth!.precision).toBeGreaterThanOrEqual(0.75);
    for (const g of rep.groups.filter((gg) => gg.irreducible)) expect(g.pcVar[0]! + g.pcVar[1]!).toBeGreaterThan(0.9);
  });
});
