// The synthetic source: deterministic, its firing statistics as specified, documents that
// drift, and exact restore of its position.
import { describe, expect, it } from 'vitest';
import { referenceBackend as be } from '../src/compute/backend.js';
import { parseSyntheticSpec, SyntheticSource } from '../src/data/synthetic.js';

function rows(src: SyntheticSource, n: number): Float32Array {
  const out = new Float32Array(n * src.d);
  src.read(out, n);
  return out;
}

describe('synthetic source', () => {
  it('is deterministic given the seed, and the held-out stream differs', () => {
    const o = { d: 16, features: 64, active: 3 };
    expect(Array.from(rows(new SyntheticSource(o, be), 50))).toEqual(Array.from(rows(new SyntheticSource(o, be), 50)));
    expect(Array.from(rows(new SyntheticSource({ ...o, stream: 1 }, be), 50))).not.toEqual(Array.from(rows(new SyntheticSource(o, be), 50)));
    expect(Array.from(new SyntheticSource({ ...o, stream: 1 }, be).truth.features)).toEqual(Array.from(new SyntheticSource(o, be).truth.features));
  });

  it('rows are sums of unit true features: with no noise each row lies in their span with the right count', () => {
    const src = new SyntheticSource({ d: 256, features: 8, active: 2, noise: 0, minMag: 1, maxMag: 1, alpha: 0 }, be);
    const x = rows(src, 400);
    let total = 0;
    for (let r = 0; r < 400; r++) {
      // project on each (nearly orthogonal in d=256) feature: coefficients are ~0 or ~1
      for (let f = 0; f < 8; f++) {
        let c = 0;
        for (let t = 0; t < 256; t++) c += x[r * 256 + t]! * src.truth.features[f * 256 + t]!;
        if (c > 0.5) total++;
      }
    }
    expect(total / 400).toBeGreaterThan(1.6);
    expect(total / 400).toBeLessThan(2.4);
  });

  it('exponential magnitudes have the asked mean, and the offset is one constant vector of the asked norm', () => {
    const o = { d: 256, features: 8, active: 2, noise: 0, alpha: 0 };
    const plain = new SyntheticSource(o, be), shifted = new SyntheticSource({ ...o, offset: 3 }, be);
    const x = rows(plain, 500), y = rows(shifted, 500);
    const off = shifted.offsetVector;
    expect(Math.hypot(...off)).toBeCloseTo(3, 5);
    // the same rows plus the constant (its own generator: the features and draws are unchanged)
    for (let e = 0; e < x.length; e++) expect(y[e]).toBeCloseTo(x[e]! + off[e % 256]!, 5);
    expect(shifted.description).toContain('offset=3');
    expect(plain.description).not.toContain('offset');
    // exponential magnitudes: at 0.05 active features a row, a nonzero row is almost always
    // one feature, and its norm is that feature's magnitude
    const exp = new SyntheticSource({ ...o, active: 0.05, magMean: 0.7 }, be), z = rows(exp, 40_000);
    const mags: number[] = [];
    for (let r = 0; r < 40_000; r++) {
      const norm = Math.hypot(...z.subarray(r * 256, (r + 1) * 256));
      if (norm > 0) mags.push(norm);
    }
    const mean = mags.reduce((a, b) => a + b, 0) / mags.length;
    expect(mags.length).toBeGreaterThan(1500);
    expect(mean).toBeGreaterThan(0.65);
    expect(mean).toBeLessThan(0.76);
    // an exponential's median is ln 2 times its mean (a uniform's is its mean)
    const median = mags.sort((a, b) => a - b)[mags.length >> 1]!;
    expect(median / mean).toBeGreaterThan(0.62);
    expect(median / mean).toBeLessThan(0.76);
  });

  it('planted antipodal partners are exact opposites', () => {
    const src = new SyntheticSource({ d: 64, features: 10, active: 6, antipodal: 5, noise: 0, minMag: 1, maxMag: 1, alpha: 0 }, be);
    const f = src.truth.features;
    for (let j = 0; j < 5; j++) for (let t = 0; t < 64; t++) expect(f[(2 * j + 1) * 64 + t]).toBe(-f[2 * j * 64 + t]!);
  });

  it('documents drift slowly: consecutive rows are far more alike than rows of different documents', () => {
    const cos = (a: Float32Array, b: Float32Array) => {
      let ab = 0, aa = 0, bb = 0;
      for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! ** 2; bb += b[i]! ** 2; }
      return ab / Math.sqrt(aa * bb);
    };
    const d = 64, src = new SyntheticSource({ d, features: 256, active: 6, docLen: 100, persist: 0.95 }, be);
    const x = rows(src, 300);
    const row = (r: number) => x.subarray(r * d, (r + 1) * d);
    let within = 0, across = 0;
    for (let r = 1; r < 99; r++) within += cos(row(r), row(r + 1)) / 98;
    for (let r = 0; r < 98; r++) across += cos(row(r), row(r + 200)) / 98;
    expect(within).toBeGreaterThan(0.6);
    expect(across).toBeLessThan(0.3);
  });

  it('restores its position exactly, inside a document too', () => {
    const o = { d: 8, features: 32, active: 3, docLen: 20, persist: 0.9 };
    const a = new SyntheticSource(o, be);
    rows(a, 13);
    const st = a.state();
    const b = new SyntheticSource(o, be);
    b.restore(JSON.parse(JSON.stringify(st)));
    expect(Array.from(rows(b, 30))).toEqual(Array.from(rows(a, 30)));
  });

  it('parses specs and names the bad option', () => {
    // the options the spec names (the defaults apply when the source is built)
    expect(parseSyntheticSpec('synthetic:d=32,active=2,antipodal=3')).toEqual({ d: 32, active: 2, antipodal: 3 });
    expect(new SyntheticSource(parseSyntheticSpec('synthetic:d=32,active=2,antipodal=3')).options.features).toBe(2048);
    expect(() => parseSyntheticSpec('synthetic:d=0')).toThrow(/--data synthetic:d=0: d: /);
    expect(() => parseSyntheticSpec('synthetic:dd=3')).toThrow(/Unrecognized key|dd/);
    expect(() => parseSyntheticSpec('synthetic:features=4,antipodal=3')).toThrow(/antipodal pairs need/);
  });
});
