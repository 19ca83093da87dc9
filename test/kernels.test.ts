// Every native kernel against the float64 reference on random inputs: odd sizes, k = 1,
// k = n, ties, negative values, empty batches and NaN.
import { describe, expect, it } from 'vitest';
import { fixedK, referenceBackend as ref, type SparseRows } from '../src/compute/backend.js';
import { Rng } from '../src/util/rng.js';
import { expectClose, nativeOrSkip } from './helpers.js';

const nat = nativeOrSkip();
const rng = new Rng(1234);

/** Values from a small set so that ties are common, with negatives. */
function tied(len: number): Float32Array {
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) out[i] = rng.int(7) - 3;
  return out;
}

function randomSparse(rows: number, n: number, k: number): SparseRows {
  const vals = rng.normals(rows * k);
  const idx = new Int32Array(rows * k);
  for (let p = 0; p < rows * k; p++) idx[p] = rng.uniform() < 0.1 ? -1 : rng.int(n);
  return fixedK(vals, idx, rows, k);
}

describe.skipIf(!nat)('native kernels match the reference', () => {
  const b = nat!;

  it.each([
    [1, 1, 1, false, false], [7, 5, 3, false, false], [13, 17, 9, true, false],
    [13, 17, 9, false, true], [31, 33, 65, true, true], [64, 128, 96, false, true], [0, 5, 3, false, false],
  ])('sgemm m=%i n=%i k=%i transA=%s transB=%s', (m, n, k, transA, transB) => {
    const a = rng.normals(m * k), bb = rng.normals(k * n);
    const c0 = rng.normals(m * n);
    const c1 = Float32Array.from(c0), c2 = Float32Array.from(c0);
    b.gemm({ a, b: bb, c: c1, m, n, k, transA, transB, alpha: 0.7, beta: 0.3 });
    ref.gemm({ a, b: bb, c: c2, m, n, k, transA, transB, alpha: 0.7, beta: 0.3 });
    expectClose(c1, c2, { rtol: 1e-4, atol: 1e-4, label: 'C' });
  });

  it.each([
    ['odd', 9, 37, 5, false], ['k=1', 6, 41, 1, false], ['k=n', 5, 23, 23, false],
    ['ties', 11, 50, 8, true], ['k=n ties', 4, 12, 12, true], ['empty batch', 0, 10, 3, false],
    ['k=0', 3, 10, 0, false],
  ])('topk rows (%s)', (_name, rows, cols, k, withTies) => {
    const x = withTies ? tied(rows * cols) : rng.normals(rows * cols);
    const got = b.topk(x, rows, cols, k), want = ref.topk(x, rows, cols, k);
    expect(Array.from(got.idx)).toEqual(Array.from(want.idx));
    expect(Array.from(got.vals)).toEqual(Array.from(want.vals));
    if (rows > 0 && k > 1) expect(got.vals[0]!).toBeGreaterThanOrEqual(got.vals[1]!);
  });

  it('topk rows restricted to a mask, fewer candidates than k pads with -1', () => {
    const rows = 7, cols = 40, k = 6;
    const x = tied(rows * cols);
    const mask = new Uint8Array(cols);
    for (const j of [3, 5, 8, 21, 39]) mask[j] = 1;
    const got = b.topk(x, rows, cols, k, { mask }), want = ref.topk(x, rows, cols, k, { mask });
    expect(Array.from(got.idx)).toEqual(Array.from(want.idx));
    expect(Array.from(got.vals)).toEqual(Array.from(want.vals));
    for (let r = 0; r < rows; r++) {
      expect(got.idx[r * k + 5]).toBe(-1);
      for (let t = 0; t < 5; t++) expect(mask[got.idx[r * k + t]!]).toBe(1);
    }
  });

  it.each([[1, 9, 3], [5, 200, 7], [3, 64, 64], [4, 1000, 32]])('topk rows with a column bias (rows=%i cols=%i k=%i), with and without a mask', (rows, cols, k) => {
    const x = rng.normals(rows * cols), bias = rng.normals(cols);
    const mask = new Uint8Array(cols).map(() => (rng.uniform() < 0.5 ? 1 : 0));
    for (const o of [{ bias }, { bias, mask }, { mask }]) {
      const got = b.topk(x, rows, cols, k, o), want = ref.topk(x, rows, cols, k, o);
      expect(Array.from(got.idx)).toEqual(Array.from(want.idx));
      expect(Array.from(got.vals)).toEqual(Array.from(want.vals));
    }
  });

  it('topk of long rows (many chunks, ties across chunks)', () => {
    const rows = 6, cols = 1000;
    for (const x of [rng.normals(rows * cols), tied(rows * cols)]) {
      for (const k of [1, 5, 32, 200]) {
        const got = b.topk(x, rows, cols, k), want = ref.topk(x, rows, cols, k);
        expect(Array.from(got.idx), `k=${k}`).toEqual(Array.from(want.idx));
      }
    }
  });

  it('topk with NaN: NaN ranks below every number, deterministically', () => {
    const x = Float32Array.from([NaN, 1, -Infinity, 2, NaN, -5, NaN, 0.5]);
    const got = b.topk(x, 2, 4, 4), want = ref.topk(x, 2, 4, 4);
    expect(Array.from(got.idx)).toEqual([3, 1, 0, 2, 3, 1, 0, 2]);
    expect(Array.from(got.idx)).toEqual(Array.from(want.idx));
    expect(Array.from(b.topk(x, 2, 4, 1).idx)).toEqual([3, 3]);
  });

  it.each([
    ['odd', 9, 37, 40, false], ['ties', 13, 19, 50, true], ['all', 5, 7, 35, false],
    ['more than all', 5, 7, 99, true], ['one', 3, 11, 1, true], ['none', 3, 11, 0, false], ['empty', 0, 8, 4, false],
  ])('batch top-k (%s)', (_name, rows, cols, kTotal, withTies) => {
    const x = withTies ? tied(rows * cols) : rng.normals(rows * cols);
    const got = b.topkBatch(x, rows, cols, kTotal), want = ref.topkBatch(x, rows, cols, kTotal);
    expect(Array.from(got.rowPtr)).toEqual(Array.from(want.rowPtr));
    expect(Array.from(got.idx)).toEqual(Array.from(want.idx));
    expect(Array.from(got.vals)).toEqual(Array.from(want.vals));
    expect(got.idx.length).toBe(Math.min(kTotal, rows * cols));
  });

  it('batch top-k with NaN and infinities', () => {
    const x = Float32Array.from([NaN, Infinity, -Infinity, 0, -0, 3, NaN, -1e30]);
    for (const kt of [1, 3, 6, 7, 8]) {
      const got = b.topkBatch(x, 2, 4, kt), want = ref.topkBatch(x, 2, 4, kt);
      expect(Array.from(got.idx), `kTotal=${kt}`).toEqual(Array.from(want.idx));
      expect(Array.from(got.rowPtr), `kTotal=${kt}`).toEqual(Array.from(want.rowPtr));
    }
  });

  // above 2^18 entries the kernel samples a threshold and gathers candidates in one pass; the
  // result must still be exactly the reference's (ties, NaN, ±0, a sample that misses)
  it.each([
    ['normal', 'normals', 64, 8192, 64 * 32], ['ties', 'tied', 40, 8192, 9000], ['NaN, -0 and +0', 'special', 48, 6000, 5000],
    ['one huge row', 'skew', 64, 8192, 4096], ['an eighth', 'normals', 32, 8192, 32768],
  ])('batch top-k on the sampled path (%s)', (_name, kind, rows, cols, kTotal) => {
    const x = kind === 'tied' ? tied(rows * cols) : rng.normals(rows * cols);
    if (kind === 'special') for (let e = 0; e < x.length; e += 3) x[e] = e % 2 ? NaN : e % 4 ? -0 : 0;
    // every value of row 5 beats every other: a uniform sample sees few of them
    if (kind === 'skew') for (let j = 0; j < cols; j++) x[5 * cols + j] = 100 + rng.uniform();
    const got = b.topkBatch(x, rows, cols, kTotal), want = ref.topkBatch(x, rows, cols, kTotal);
    expect(Array.from(got.rowPtr)).toEqual(Array.from(want.rowPtr));
    expect(Array.from(got.idx)).toEqual(Array.from(want.idx));
    expect(Array.from(got.vals)).toEqual(Array.from(want.vals));
  });

  it('bf16 rounding: the same bits as the reference, nearest even, NaN kept', () => {
    const x = Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, 0, -0, Infinity, -Infinity, NaN, 3.4e38, 1e-40, ...rng.normals(1000)]);
    const got = b.toBf16(x), want = ref.toBf16(x);
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(Array.from(got.subarray(0, 3))).toEqual([0x3f80, 0x3f80, 0x3f82]);
  });

  it.each([[1, 1, 1, false], [7, 5, 3, true], [33, 65, 17, false], [128, 96, 200, true], [0, 4, 3, false]])(
    'bf16 GEMM m=%i n=%i k=%i bias=%s: f32 accumulation of bf16 inputs', (m, n, k, withBias) => {
      const a = b.toBf16(rng.normals(m * k)), w = b.toBf16(rng.normals(n * k));
      const bias = withBias ? rng.normals(n) : undefined;
      const c1 = new Float32Array(m * n), c2 = new Float32Array(m * n);
      b.gemmBf16({ a, b: w, c: c1, m, n, k, bias });
      ref.gemmBf16({ a, b: w, c: c2, m, n, k, bias });
      // the products of bf16 values are exact in f32; only the order of the f32 sums differs
      expectClose(c1, c2, { rtol: 1e-5, atol: 1e-5 * Math.sqrt(k), label: 'C' });
    });

  // integer inputs: every GEMM order gives the same exact sums, so the selection (ties among
  // them everywhere) must match the reference's to the bit; sizes span several of the native
  // kernel's 512×512 tiles and bands, and k beyond the columns pads
  it.each([[1100, 1300, 6, 7, 5, true], [1100, 1300, 6, 7, 5, false], [3, 40, 4, 50, 45, true], [5, 600, 6, 1, 0, true], [0, 5, 3, 2, 0, false]])(
    'encoder GEMM fused with the row top-k m=%i n=%i d=%i k=%i kAux=%i bf16=%s: the reference\'s GEMM then topk', (m, n, d, k, kAux, bf16) => {
      const af = tied(m * d), wf = tied(n * d), bias = tied(n);
      if (m > 2) af[2 * d + 1] = NaN; // row 2 is all NaN: NaN ranks as −∞, the lowest columns win
      for (let j = 0; j < n; j += 37) bias[j] = NaN;
      const mask = Uint8Array.from({ length: n }, (_, j) => (j % 3 === 1 ? 1 : 0));
      const a = bf16 ? b.toBf16(af) : af, w = bf16 ? b.toBf16(wf) : wf;
      const run = (be: typeof b) => {
        const aux = { mask, k: kAux, vals: new Float32Array(m * kAux), idx: new Int32Array(m * kAux) };
        const top = be.encodeTopk({ a, w, bias, m, n, d, k, ...(kAux ? { aux } : {}) });
        return { idx: Array.from(top.idx), vals: Array.from(top.vals), auxIdx: Array.from(aux.idx), auxVals: Array.from(aux.vals) };
      };
      const got = run(b), want = run(ref);
      expect(got).toEqual(want);
      // and the definition itself: the reference's encodeTopk is its GEMM, then its topk
      if (m > 2 && !bf16) {
        const pre = new Float32Array(m * n);
        ref.gemm({ a: af, b: wf, c: pre, m, n, k: d, transB: true });
        expect(Array.from(ref.topk(pre, m, n, k, { bias }).idx)).toEqual(want.idx);
        expect(want.idx.slice(2 * k, 3 * k)).toEqual(Array.from({ length: k }, (_, t) => (t < n ? t : -1)));
      }
    });

  it('threshold (JumpReLU mask), NaN never passes', () => {
    const rows = 17, cols = 29;
    const x = rng.normals(rows * cols);
    x[5] = NaN;
    const theta = rng.normals(cols, 0.5);
    const got = b.threshold(x, rows, cols, theta), want = ref.threshold(x, rows, cols, theta);
    expect(Array.from(got.rowPtr)).toEqual(Array.from(want.rowPtr));
    expect(Array.from(got.idx)).toEqual(Array.from(want.idx));
    expect(Array.from(got.vals)).toEqual(Array.from(want.vals));
  });

  it.each([[1, 1, 1, 1], [9, 31, 17, 4], [33, 50, 65, 7], [0, 10, 8, 3]])(
    'sparse decode / accumulate / dot rows=%i n=%i d=%i k=%i', (rows, n, d, k) => {
      const z = randomSparse(rows, n, k);
      const w = rng.normals(n * d), bias = rng.normals(d), m = rng.normals(rows * d);
      expectClose(b.sparseDecode(z, w, d, bias), ref.sparseDecode(z, w, d, bias), { rtol: 1e-5, atol: 1e-5, label: 'decode' });
      expectClose(b.sparseDecode(z, w, d, null), ref.sparseDecode(z, w, d, null), { rtol: 1e-5, atol: 1e-5, label: 'decode no bias' });
      const g0 = rng.normals(n * d);
      const g1 = Float32Array.from(g0), g2 = Float32Array.from(g0);
      b.sparseAccumulate(z, m, d, g1);
      ref.sparseAccumulate(z, m, d, g2);
      expectClose(g1, g2, { rtol: 1e-5, atol: 1e-5, label: 'accumulate' });
      b.sparseAccumulate(z, m, d, g1, true);
      ref.sparseAccumulate(z, m, d, g2, true);
      expectClose(g1, g2, { rtol: 1e-5, atol: 1e-5, label: 'accumulate, overwrite' });
      const fresh = new Float32Array(n * d);
      ref.sparseAccumulate(z, m, d, fresh);
      expectClose(g1, fresh, { rtol: 1e-5, atol: 1e-5, label: 'overwrite equals accumulate into zeros' });
      expectClose(b.sparseDot(z, m, w, d), ref.sparseDot(z, m, w, d), { rtol: 1e-4, atol: 1e-4, label: 'dot' });
    });

  it('sparse accumulate is bit-identical across calls (no atomics)', () => {
    const z = randomSparse(200, 64, 16), m = rng.normals(200 * 48);
    const g1 = new Float32Array(64 * 48), g2 = new Float32Array(64 * 48);
    b.sparseAccumulate(z, m, 48, g1);
    b.sparseAccumulate(z, m, 48, g2);
    expect(Buffer.from(g1.buffer).equals(Buffer.from(g2.buffer))).toBe(true);
  });

  it('sparse kernels reject out-of-range indices with a clear error', () => {
    const z = fixedK(Float32Array.from([1]), Int32Array.from([5]), 1, 1);
    expect(() => b.sparseDecode(z, new Float32Array(4 * 3), 3, null)).toThrow(/sparse index 5 .* out of range \(4 columns\)/);
  });

  it('adam matches over several steps', () => {
    const len = 1001;
    const p1 = rng.normals(len), p2 = Float32Array.from(p1);
    const m1 = new Float32Array(len), v1 = new Float32Array(len), m2 = new Float32Array(len), v2 = new Float32Array(len);
    for (let step = 1; step <= 5; step++) {
      const g = rng.normals(len);
      const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 6.25e-10, step };
      b.adam(p1, g, m1, v1, h);
      ref.adam(p2, g, m2, v2, h);
    }
    expectClose(p1, p2, { rtol: 1e-5, atol: 1e-6, label: 'params' });
    expectClose(v1, v2, { rtol: 1e-5, atol: 1e-9, label: 'v' });
  });

  it('fused decoder step equals project + adam + normalize', () => {
    const n = 9, d = 21;
    const w = rng.normals(n * d);
    ref.normalizeRows(w, n, d);
    const w1 = Float32Array.from(w), w2 = Float32Array.from(w);
    const m1 = new Float32Array(n * d), v1 = new Float32Array(n * d), m2 = new Float32Array(n * d), v2 = new Float32Array(n * d);
    for (let step = 1; step <= 3; step++) {
      const g = rng.normals(n * d);
      const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 6.25e-10, step };
      b.adamUnitRows(w1, Float32Array.from(g), m1, v1, n, d, h);
      ref.adamUnitRows(w2, Float32Array.from(g), m2, v2, n, d, h);
    }
    expectClose(w1, w2, { rtol: 1e-5, atol: 1e-6, label: 'W' });
    expectClose(m1, m2, { rtol: 1e-5, atol: 1e-7, label: 'm' });
    for (const norm of b.rowNorms(w1, n, d)) expect(Math.abs(norm - 1)).toBeLessThan(1e-6);
  });

  it('row norms, normalize (zero rows stay zero), gradient projection', () => {
    const n = 13, d = 37;
    const w = rng.normals(n * d);
    w.fill(0, 2 * d, 3 * d);
    expectClose(b.rowNorms(w, n, d), ref.rowNorms(w, n, d), { rtol: 1e-6, label: 'norms' });
    const w1 = Float32Array.from(w), w2 = Float32Array.from(w);
    b.normalizeRows(w1, n, d);
    ref.normalizeRows(w2, n, d);
    expectClose(w1, w2, { rtol: 1e-6, atol: 1e-7, label: 'normalized' });
    expect(w1[2 * d]).toBe(0);
    const g = rng.normals(n * d);
    const g1 = Float32Array.from(g), g2 = Float32Array.from(g);
    b.projectRowGrad(w1, g1, n, d);
    ref.projectRowGrad(w1, g2, n, d);
    expectClose(g1, g2, { rtol: 1e-5, atol: 1e-6, label: 'projected' });
    // the projected gradient is orthogonal to its row
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let c = 0; c < d; c++) dot += g1[i * d + c]! * w1[i * d + c]!;
      expect(Math.abs(dot)).toBeLessThan(1e-5);
    }
  });

  it.each([[2, 5, 1], [37, 16, 8], [100, 24, 33], [65, 10, 64], [50, 12, 1000]])(
    'min cosine n=%i d=%i block=%i finds the planted opposite pair', (n, d, block) => {
      const w = rng.normals(n * d);
      ref.normalizeRows(w, n, d);
      // plant an exact antipodal pair
      for (let c = 0; c < d; c++) w[(n - 1) * d + c] = -w[c]!;
      const got = b.minCosine(w, n, d, block), want = ref.minCosine(w, n, d, block);
      expectClose(got.vals, want.vals, { rtol: 1e-5, atol: 1e-5, label: 'min cosine' });
      expect(Array.from(got.idx)).toEqual(Array.from(want.idx));
      expect(got.idx[0]).toBe(n - 1);
      expect(got.idx[n - 1]).toBe(0);
      expect(got.vals[0]!).toBeLessThan(-0.9999);
    });

  it('min cosine with one row has no partner', () => {
    const got = b.minCosine(Float32Array.from([1, 0]), 1, 2);
    expect(got.idx[0]).toBe(-1);
    expect(got.vals[0]).toBe(Infinity);
  });

  it.each([
    // batch, T, pos0, cap, nHeads, nKv, hd
    [1, 1, 0, 1, 1, 1, 1], [2, 7, 0, 7, 4, 2, 8], [3, 5, 4, 11, 6, 3, 5], [1, 1, 30, 31, 8, 8, 64], [2, 33, 0, 40, 2, 1, 16],
  ])('causal attention over a KV cache: batch %i, T %i after %i cached (cap %i), %i heads on %i kv heads of %i', (batch, T, pos0, cap, nHeads, nKv, hd) => {
    const q = rng.normals(batch * T * nHeads * hd), k = rng.normals(batch * cap * nKv * hd), v = rng.normals(batch * cap * nKv * hd);
    // large scores stress the max-subtracted exp
    for (let i = 0; i < q.length; i++) q[i]! *= 3;
    const args = { q, k, v, batch, T, pos0, cap, nHeads, nKv, hd, scale: 1 / Math.sqrt(hd) };
    const got = new Float32Array(q.length), want = new Float32Array(q.length);
    b.attention({ ...args, out: got });
    ref.attention({ ...args, out: want });
    expectClose(got, want, { rtol: 1e-4, atol: 1e-5, label: 'attention' });
    // keys past a query's position never matter
    const k2 = k.slice(), v2 = v.slice();
    for (let bb = 0; bb < batch; bb++) for (let j = pos0 + T; j < cap; j++) for (let c = 0; c < nKv * hd; c++) { k2[(bb * cap + j) * nKv * hd + c] = 1e6; v2[(bb * cap + j) * nKv * hd + c] = NaN; }
    const masked = new Float32Array(q.length);
    b.attention({ ...args, k: k2, v: v2, out: masked });
    expect(Array.from(masked)).toEqual(Array.from(got));
    expect(() => b.attention({ ...args, out: got, nKv: nHeads + 1 })).toThrow(/multiple of nKv/);
  });

  it('attention with soft-capped scores and a sliding window (Gemma-2) against a direct float64 transcription', () => {
    const batch = 2, T = 9, pos0 = 3, cap = 14, nHeads = 4, nKv = 2, hd = 8, softcap = 2.5, window = 4, scale = 0.3;
    const q = rng.normals(batch * T * nHeads * hd, 2), k = rng.normals(batch * cap * nKv * hd), v = rng.normals(batch * cap * nKv * hd);
    const got = new Float32Array(q.length);
    b.attention({ q, k, v, out: got, batch, T, pos0, cap, nHeads, nKv, hd, scale, softcap, window });
    const want = new Float64Array(q.length);
    for (let bb = 0; bb < batch; bb++) for (let h = 0; h < nHeads; h++) for (let t = 0; t < T; t++) {
      const p = pos0 + t, g = Math.floor(h / (nHeads / nKv)), keys: number[] = [];
      for (let j = 0; j <= p; j++) if (p - j < window) keys.push(j); // HF: masked where q_pos − k_pos >= window
      const scores = keys.map((j) => {
        let dot = 0;
        for (let c = 0; c < hd; c++) dot += q[((bb * T + t) * nHeads + h) * hd + c]! * k[((bb * cap + j) * nKv + g) * hd + c]!;
        return softcap * Math.tanh((dot * scale) / softcap);
      });
      const m = Math.max(...scores), e = scores.map((s) => Math.exp(s - m)), z = e.reduce((a, c) => a + c, 0);
      for (let c = 0; c < hd; c++) want[((bb * T + t) * nHeads + h) * hd + c] = keys.reduce((a, j, i) => a + (e[i]! / z) * v[((bb * cap + j) * nKv + g) * hd + c]!, 0);
    }
    expectClose(got, want, { rtol: 1e-4, atol: 1e-5, label: 'capped, windowed attention' });
  });

  it('MLP activations: GELU (tanh and exact forms), SwiGLU and GeGLU, including large and tiny inputs', () => {
    const n = 1037;
    const x = rng.normals(n, 4);
    x[0] = 200; x[1] = -200; x[2] = 0; x[3] = -1e-30;
    const u = rng.normals(n);
    for (const kind of ['gelu', 'swiglu', 'gelu_exact', 'geglu'] as const) {
      const got = x.slice(), want = x.slice();
      b.activate(got, n, kind, u);
      ref.activate(want, n, kind, u);
      expectClose(got, want, { rtol: 2e-6, atol: 1e-7, label: kind });
    }
    // GELU's tanh form at a few known points (0.5x(1 + tanh(√(2/π)(x + 0.044715x³))))
    const pts = Float32Array.from([-3, -1, 0.5, 2]);
    b.activate(pts, 4, 'gelu');
    expectClose(pts, [-0.0036373920817729943, -0.15880800939172324, 0.34571400982514394, 1.9545976940871754], { rtol: 1e-6, atol: 1e-7, label: 'gelu' });
    // the exact form x·Φ(x) at the same points (Φ from tables: 0.0013498980, 0.1586552539, 0.6914624613, 0.9772498681)
    const exact = Float32Array.from([-3, -1, 0.5, 2]);
    b.activate(exact, 4, 'gelu_exact');
    expectClose(exact, [-3 * 0.0013498980316301, -0.15865525393145707, 0.5 * 0.6914624612740131, 2 * 0.9772498680518208], { rtol: 1e-6, atol: 1e-7, label: 'gelu_exact' });
  });

  it('bad sizes are refused with a message naming the argument', () => {
    expect(() => b.topk(new Float32Array(5), 2, 3, 1)).toThrow(/x has 5 elements, needs at least 6/);
    expect(() => b.gemm({ a: new Float32Array(4), b: new Float32Array(4), c: new Float32Array(3), m: 2, n: 2, k: 2 })).toThrow(/c has 3/);
    expect(() => b.topk(new Float32Array(6), 2, 3, -1)).toThrow(/k must be a non-negative integer/);
  });
});
