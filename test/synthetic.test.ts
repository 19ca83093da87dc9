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
