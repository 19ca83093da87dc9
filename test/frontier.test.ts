// The frontier tool on hand-made point sets with known frontiers and interpolated values.
import { describe, expect, it } from 'vitest';
import { frontierWarnings, type RunPoint } from '../src/app/analyze.js';
import { dataIdentity } from '../src/data/spec.js';
import { compareAtMatchedL0, dominates, frontiersByGroup, fvuAt, matchedFvu, paretoFrontier, type FrontierPoint } from '../src/eval/frontier.js';

const pt = (label: string, l0: number, fvu: number, group = 'g'): FrontierPoint => ({ label, group, l0, fvu });

describe('MSE-L0 frontier', () => {
  it('keeps exactly the non-dominated points, sorted by L0', () => {
    const pts = [pt('a', 8, 0.4), pt('b', 16, 0.25), pt('c', 16, 0.3), pt('d', 32, 0.26), pt('e', 64, 0.1), pt('f', 4, 0.6), pt('g', 32, 0.15)];
    expect(paretoFrontier(pts).map((p) => p.label)).toEqual(['f', 'a', 'b', 'g', 'e']);
    expect(dominates(pt('b', 16, 0.25), pt('c', 16, 0.3))).toBe(true);
    expect(dominates(pt('x', 16, 0.25), pt('y', 16, 0.25))).toBe(false);
    const { dominated } = frontiersByGroup(pts);
    expect([...dominated].map((p) => p.label).sort()).toEqual(['c', 'd']);
  });

  it('interpolates log-log between frontier points and refuses to extrapolate', () => {
    const f = paretoFrontier([pt('a', 10, 0.4), pt('b', 40, 0.1)]);
    // log-log line: fvu = 0.4 · (l0/10)^-1  →  at l0 = 20, fvu = 0.2
    expect(fvuAt(f, 20)).toBeCloseTo(0.2, 12);
    expect(fvuAt(f, 10)).toBe(0.4);
    expect(fvuAt(f, 40)).toBe(0.1);
    expect(fvuAt(f, 5)).toBeNaN();
    expect(fvuAt(f, 80)).toBeNaN();
  });

  it('matched FVU: interpolated inside the frontier; its last FVU where larger L0 only did worse; NaN below its start', () => {
    // more latents firing did not help: the points at L0 7 and 15 are dominated by the one at 4
    expect(matchedFvu([pt('a', 4, 0.073), pt('b', 7, 0.09), pt('c', 15, 0.082)], 8)).toEqual({ fvu: 0.073, ended: true });
    expect(matchedFvu([pt('a', 10, 0.4), pt('b', 40, 0.1)], 20).fvu).toBeCloseTo(0.2, 12);
    expect(matchedFvu([pt('a', 10, 0.4), pt('b', 40, 0.1)], 20).ended).toBe(false);
    expect(matchedFvu([pt('a', 10, 0.4), pt('b', 40, 0.1)], 5).fvu).toBeNaN();
  });

  it('compares groups at matched L0 only where both have points', () => {
    // A is exactly half of B's FVU everywhere on a power law; ranges overlap on [20, 80]
    const A = paretoFrontier([pt('a1', 10, 0.5, 'A'), pt('a2', 80, 0.0625, 'A')]);
    const B = paretoFrontier([pt('b1', 20, 0.5, 'B'), pt('b2', 160, 0.0625, 'B')]);
    const cmp = compareAtMatchedL0('A', A, 'B', B, 5);
    expect(cmp.range).toEqual([20, 80]);
    for (const s of cmp.samples) expect(s.ratio).toBeCloseTo(0.5, 10);
    expect(cmp.geoMeanRatio).toBeCloseTo(0.5, 10);
    const disjoint = compareAtMatchedL0('A', A, 'C', paretoFrontier([pt('c', 200, 0.01, 'C')]));
    expect(disjoint.range).toBeNull();
    expect(disjoint.geoMeanRatio).toBeNaN();
  });

  it('ignores points that cannot sit on a log axis', () => {
    expect(paretoFrontier([pt('zero', 0, 0.5), pt('nan', 4, NaN), pt('ok', 4, 0.5)]).map((p) => p.label)).toEqual(['ok']);
  });
});

describe('frontier warnings', () => {
  const rp = (label: string, arch: string, dataId: string): RunPoint => ({ label, group: arch, l0: 8, fvu: 0.2, arch, dataId });
  const stories = dataIdentity('lm:model=m.bin,corpus=c.txt,layer=2,site=resid_post');

  it('say when runs read different activations, mix exact and mean L0, or include a dense code', () => {
    expect(stories).toBe('m.bin layer 2 resid_post');
    // the same synthetic data however it is spelled (defaults, the held-out stream)
    expect(dataIdentity('synthetic')).toBe(dataIdentity('synthetic:d=128,stream=1'));
    expect(frontierWarnings([rp('a', 'topk', stories), rp('b', 'topk', stories)])).toEqual([]);
    const w = frontierWarnings([rp('a', 'topk', stories), rp('b', 'jumprelu', dataIdentity('lm:model=m.bin,corpus=c.txt,layer=3,site=resid_post')), rp('c', 'vae', stories)]);
    expect(w).toHaveLength(3);
    expect(w[0]).toMatch(/different activations \(m\.bin layer 2 resid_post; m\.bin layer 3 resid_post\)/);
    expect(w[1]).toMatch(/exactly k on every token for topk but an average over tokens for jumprelu/);
    expect(w[2]).toMatch(/vae is dense/);
    expect(frontierWarnings([rp('a', 'batchtopk', stories), rp('b', 'relu', stories)])).toEqual([]);
  });
});
