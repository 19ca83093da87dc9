/**
 * The raw kernel set every compute backend implements: plain functions over caller-owned
 * row-major buffers, with no argument checking (see backend.ts for the checked API).
 *
 * Sparse matrices are CSR: row b owns entries rowPtr[b] .. rowPtr[b+1]-1 of idx/vals;
 * an entry whose idx is negative is empty and every consumer skips it.
 * Ordering rule of every top-k: larger value first, NaN ranks as -Infinity, and ties go
 * to the smaller column index, so results are deterministic and comparable exactly.
 */
export interface Kernels {
  /** C = alpha·op(A)·op(B) + beta·C, row-major; op(A): [m, k], op(B): [k, n], C: [m, n]. */
  sgemm(transA: boolean, transB: boolean, m: number, n: number, k: number, alpha: number,
    a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number): void;
  /** Row-wise top-k of x [rows, cols] + bias [cols] (bias optional; restricted to mask[j] != 0
   *  when a mask is given) into outVals/outIdx [rows, k], the values including the bias; rows
   *  with fewer than k candidates are padded with idx -1, val 0. */
  topkRows(x: Float32Array, rows: number, cols: number, k: number, mask: Uint8Array | null,
    bias: Float32Array | null, outVals: Float32Array, outIdx: Int32Array): void;
  /** Top kTotal entries of all of x [rows, cols] as CSR (rowPtr [rows+1]) in row-major order;
   *  returns the number kept, min(kTotal, rows·cols). */
  topkBatch(x: Float32Array, rows: number, cols: number, kTotal: number,
    rowPtr: Int32Array, outIdx: Int32Array, outVals: Float32Array): number;
  /** counts[b] = #{j : x[b,j] > theta[j]} */
  thresholdCount(x: Float32Array, rows: number, cols: number, theta: Float32Array, counts: Int32Array): void;
  /** Entries with x[b,j] > theta[j], written at rowPtr[b] onward in column order. */
  thresholdGather(x: Float32Array, rows: number, cols: number, theta: Float32Array,
    rowPtr: Int32Array, outIdx: Int32Array, outVals: Float32Array): void;
  /** out[b,:] = bias + Σ_p vals[p]·W[idx[p],:];  W: [n, d], out: [rows, d]. */
  sparseDecode(rowPtr: Int32Array, idx: Int32Array, vals: Float32Array, rows: number,
    w: Float32Array, d: number, bias: Float32Array | null, out: Float32Array): void;
  /** G[i,:] += Σ_{(b,p): idx[p]=i} vals[p]·M[b,:];  M: [rows, d], G: [n, d]. With overwrite,
   *  G's old contents are ignored (rows without entries become 0), as BLAS does for beta = 0. */
  sparseAccumulate(rowPtr: Int32Array, idx: Int32Array, vals: Float32Array, rows: number,
    m: Float32Array, d: number, n: number, g: Float32Array, overwrite: boolean): void;
  /** out[p] = M[b,:]·W[idx[p],:] for each entry p of row b (0 when idx[p] < 0). */
  sparseDot(rowPtr: Int32Array, idx: Int32Array, rows: number, m: Float32Array,
    w: Float32Array, d: number, out: Float32Array): void;
  /** One Adam step (PyTorch's bias correction), step counted from 1. */
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, len: number,
    lr: number, beta1: number, beta2: number, eps: number, step: number): void;
  /** The decoder's constrained step fused per row: projectRowGrad, then Adam on W [n, d] with
   *  the projected G, then normalizeRows (G is left holding the projected gradient). */
  adamUnitRows(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, d: number,
    lr: number, beta1: number, beta2: number, eps: number, step: number): void;
  rowNorms(w: Float32Array, n: number, d: number, out: Float32Array): void;
  /** Scales each nonzero row of W [n, d] to unit norm; zero rows stay zero. */
  normalizeRows(w: Float32Array, n: number, d: number): void;
  /** G_i -= (G_i·W_i / W_i·W_i) W_i: removes each row gradient's component along its row. */
  projectRowGrad(w: Float32Array, g: Float32Array, n: number, d: number): void;
  /** For unit rows W [n, d]: min over j≠i of W_i·W_j and the j attaining it (ties: smaller j;
   *  NaN cosines are never chosen). Blocked, upper half only. */
  minCosine(w: Float32Array, n: number, d: number, block: number, outVal: Float32Array, outIdx: Int32Array): void;
  /** Causal softmax attention of T new queries per sequence over a KV cache. q, out:
   *  [batch, T, nHeads·hd]; k, v: [batch, cap, nKv·hd] with positions 0 .. pos0+T−1 filled.
   *  Query t sits at position pos0 + t and sees keys 0 .. pos0 + t; head h reads kv head
   *  h / (nHeads / nKv); scores are scale·q·k, soft-capped to softcap·tanh(s/softcap) when
   *  softcap > 0; with window > 0 a query at position p sees only keys p − window + 1 .. p. */
  /** In place over x [n]: kind 0 GELU (tanh form) x·σ(2√(2/π)(x + 0.044715x³)); kind 1 SwiGLU
   *  x·σ(x)·u[i]; kind 2 GELU (exact) x·Φ(x); kind 3 GeGLU, the tanh-form GELU times u[i]. */
  activate(x: Float32Array, u: Float32Array | null, n: number, kind: 0 | 1 | 2 | 3): void;
  /** float32 → bfloat16 bits (dst [len]), rounded to nearest even; NaN stays NaN. */
  toBf16(src: Float32Array, dst: Uint16Array, len: number): void;
  /** C [m, n] = A·Bᵀ (+ bias [n] on every row; null for none) with A [m, k] and B [n, k] as
   *  bfloat16 bits and the products accumulated in float32. */
  gemmBf16(a: Uint16Array, b: Uint16Array, bias: Float32Array | null, c: Float32Array, m: number, n: number, k: number): void;
  /** The row top-k of pre = A·Wᵀ + bias (A [m, d], W [n, d]: both float32, or both bfloat16
   *  bits multiplied as gemmBf16 does) into outVals/outIdx [m, k] exactly as topkRows selects
   *  from pre, without storing pre [m, n]; with auxMask, also each row's top kAux among the
   *  columns where auxMask[j] != 0 into auxVals/auxIdx [m, kAux]. */
  encodeTopk(a: Float32Array | Uint16Array, w: Float32Array | Uint16Array, bias: Float32Array | null, m: number, n: number, d: number,
    k: number, outVals: Float32Array, outIdx: Int32Array, auxMask: Uint8Array | null, kAux: number, auxVals: Float32Array | null,
    auxIdx: Int32Array | null): void;
  attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, batch: number, T: number, pos0: number,
    cap: number, nHeads: number, nKv: number, hd: number, scale: number, softcap: number, window: number): void;
}
