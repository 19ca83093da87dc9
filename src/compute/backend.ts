/**
 * The compute backend: one checked API over a raw kernel set (kernels.ts). Sizes and buffer
 * lengths are validated here, once, for every backend, and errors name the argument.
 * `getBackend()` picks the native addon when it loads and the reference otherwise.
 */
import type { Kernels } from './kernels.js';
import { loadNative, type NativeAddon } from './native.js';
import { referenceKernels } from './reference.js';

export type BackendName = 'native' | 'reference';

/** MLP activations, in the kernels' numbering (Kernels.activate). */
export const ACTIVATIONS = ['gelu', 'swiglu', 'gelu_exact', 'geglu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** CSR sparse rows (see kernels.ts): values `vals` at columns `idx`, row b in rowPtr[b]..rowPtr[b+1]. */
export interface SparseRows {
  rows: number;
  rowPtr: Int32Array;
  idx: Int32Array;
  vals: Float32Array;
}

/** Wraps a fixed-k layout (vals/idx [rows, k]) as CSR without copying. */
export function fixedK(vals: Float32Array, idx: Int32Array, rows: number, k: number): SparseRows {
  const rowPtr = new Int32Array(rows + 1);
  for (let b = 0; b <= rows; b++) rowPtr[b] = b * k;
  return { rows, rowPtr, idx: idx.subarray(0, rows * k), vals: vals.subarray(0, rows * k) };
}

function need(cond: boolean, what: string): void {
  if (!cond) throw new RangeError(`saekit compute: ${what}`);
}
function size(name: string, v: number): void {
  need(Number.isInteger(v) && v >= 0, `${name} must be a non-negative integer, got ${v}`);
}
function len(name: string, a: { length: number }, atLeast: number): void {
  need(a.length >= atLeast, `${name} has ${a.length} elements, needs at least ${atLeast}`);
}
function sparse(z: SparseRows, cols?: number): void {
  size('rows', z.rows);
  len('rowPtr', z.rowPtr, z.rows + 1);
  const nnz = z.rowPtr[z.rows]!;
  len('idx', z.idx, nnz);
  len('vals', z.vals, nnz);
  if (cols !== undefined) {
    for (let p = 0; p < nnz; p++) need(z.idx[p]! < cols, `sparse index ${z.idx[p]} at entry ${p} is out of range (${cols} columns)`);
  }
}

/** The encoder GEMM's number format: float32 throughout, or bfloat16 inputs with float32
 *  accumulation (docs/design.md §7.1). */
export const PRECISIONS = ['f32', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

export class Backend {
  readonly name: BackendName;
  readonly kernels: Kernels;
  /** which bf16 GEMM runs here, and whether it is native bf16 (faster than f32) or emulated */
  readonly bf16: { fast: boolean; detail: string };
  constructor(name: BackendName, kernels: Kernels, bf16 = { fast: false, detail: 'the reference backend widens bf16 to f32' }) {
    this.name = name;
    this.kernels = kernels;
    this.bf16 = bf16;
  }

  /** c [m, n] = alpha·op(a)·op(b) + beta·c, dense row-major; op(a): [m, k], op(b): [k, n]. */
  gemm(o: { a: Float32Array; b: Float32Array; c: Float32Array; m: number; n: number; k: number;
    transA?: boolean; transB?: boolean; alpha?: number; beta?: number }): void {
    const { a, b, c, m, n, k, transA = false, transB = false, alpha = 1, beta = 0 } = o;
    size('m', m); size('n', n); size('k', k);
    len('a', a, m * k); len('b', b, k * n); len('c', c, m * n);
    this.kernels.sgemm(transA, transB, m, n, k, alpha, a, transA ? m : k, b, transB ? k : n, beta, c, n);
  }

  /** bfloat16 bits of x (rounded to nearest even), into out when given. */
  toBf16(x: Float32Array, out?: Uint16Array): Uint16Array {
    const res = out ?? new Uint16Array(x.length);
    len('out', res, x.length);
    this.kernels.toBf16(x, res, x.length);
    return res;
  }

  /** c [m, n] = a·bᵀ (+ bias [n] on every row) with a [m, k] and b [n, k] as bf16 bits
   *  (toBf16), accumulated in float32: the encoder GEMM at --precision bf16. */
  gemmBf16(o: { a: Uint16Array; b: Uint16Array; c: Float32Array; m: number; n: number; k: number; bias?: Float32Array }): void {
    const { a, b, c, m, n, k, bias } = o;
    size('m', m); size('n', n); size('k', k);
    len('a', a, m * k); len('b', b, n * k); len('c', c, m * n);
    if (bias) len('bias', bias, n);
    this.kernels.gemmBf16(a, b, bias ?? null, c, m, n, k);
  }

  /** The encoder's GEMM and the row top-k in one pass: vals/idx [m, k] = topk(a·wᵀ + bias, k)
   *  with a [m, d] and w [n, d] both float32, or both bf16 bits (gemmBf16's numbers), without
   *  the [m, n] pre-activation matrix; with aux, also each row's top aux.k among the columns
   *  where aux.mask is set (AuxK's dead latents). The selection is topk's. */
  encodeTopk(o: { a: Float32Array | Uint16Array; w: Float32Array | Uint16Array; bias?: Float32Array; m: number; n: number; d: number; k: number;
    vals?: Float32Array; idx?: Int32Array; aux?: { mask: Uint8Array; k: number; vals: Float32Array; idx: Int32Array } }): { vals: Float32Array; idx: Int32Array } {
    const { a, w, bias, m, n, d, k, aux } = o;
    size('m', m); size('n', n); size('d', d); size('k', k);
    need((a instanceof Uint16Array) === (w instanceof Uint16Array), 'a and w must both be float32 or both bf16 bits');
    len('a', a, m * d); len('w', w, n * d);
    if (bias) len('bias', bias, n);
    const vals = o.vals ?? new Float32Array(m * k), idx = o.idx ?? new Int32Array(m * k);
    len('vals', vals, m * k); len('idx', idx, m * k);
    if (aux) {
      size('aux.k', aux.k);
      len('aux.mask', aux.mask, n); len('aux.vals', aux.vals, m * aux.k); len('aux.idx', aux.idx, m * aux.k);
    }
    this.kernels.encodeTopk(a, w, bias ?? null, m, n, d, k, vals, idx, aux?.mask ?? null, aux?.k ?? 0, aux?.vals ?? null, aux?.idx ?? null);
    return { vals, idx };
  }

  /** Row-wise top-k of x [rows, cols] (+ bias [cols]) → vals/idx [rows, k], best first,
   *  padded with idx -1; with a mask only columns where mask[j] != 0 compete. */
  topk(x: Float32Array, rows: number, cols: number, k: number,
    o: { mask?: Uint8Array; bias?: Float32Array; vals?: Float32Array; idx?: Int32Array } = {}): { vals: Float32Array; idx: Int32Array } {
    size('rows', rows); size('cols', cols); size('k', k);
    len('x', x, rows * cols);
    if (o.mask) len('mask', o.mask, cols);
    if (o.bias) len('bias', o.bias, cols);
    const vals = o.vals ?? new Float32Array(rows * k);
    const idx = o.idx ?? new Int32Array(rows * k);
    len('vals', vals, rows * k); len('idx', idx, rows * k);
    this.kernels.topkRows(x, rows, cols, k, o.mask ?? null, o.bias ?? null, vals, idx);
    return { vals, idx };
  }

  /** The kTotal largest entries of the whole of x [rows, cols] (BatchTopK), as CSR. */
  topkBatch(x: Float32Array, rows: number, cols: number, kTotal: number): SparseRows {
    size('rows', rows); size('cols', cols); size('kTotal', kTotal);
    len('x', x, rows * cols);
    const keep = Math.min(kTotal, rows * cols);
    const z = { rows, rowPtr: new Int32Array(rows + 1), idx: new Int32Array(keep), vals: new Float32Array(keep) };
    this.kernels.topkBatch(x, rows, cols, kTotal, z.rowPtr, z.idx, z.vals);
    return z;
  }

  /** Entries of x [rows, cols] above their column's threshold theta [cols] (JumpReLU), as CSR. */
  threshold(x: Float32Array, rows: number, cols: number, theta: Float32Array): SparseRows {
    size('rows', rows); size('cols', cols);
    len('x', x, rows * cols); len('theta', theta, cols);
    const counts = new Int32Array(rows);
    this.kernels.thresholdCount(x, rows, cols, theta, counts);
    const rowPtr = new Int32Array(rows + 1);
    for (let b = 0; b < rows; b++) rowPtr[b + 1] = rowPtr[b]! + counts[b]!;
    const nnz = rowPtr[rows]!;
    const z = { rows, rowPtr, idx: new Int32Array(nnz), vals: new Float32Array(nnz) };
    this.kernels.thresholdGather(x, rows, cols, theta, rowPtr, z.idx, z.vals);
    return z;
  }

  /** out [rows, d] = bias + z·W, with W [n, d]. */
  sparseDecode(z: SparseRows, w: Float32Array, d: number, bias: Float32Array | null, out?: Float32Array): Float32Array {
    size('d', d);
    need(w.length % Math.max(d, 1) === 0, `W has ${w.length} elements, not a multiple of d=${d}`);
    sparse(z, d === 0 ? 0 : w.length / d);
    if (bias) len('bias', bias, d);
    const res = out ?? new Float32Array(z.rows * d);
    len('out', res, z.rows * d);
    this.kernels.sparseDecode(z.rowPtr, z.idx, z.vals, z.rows, w, d, bias, res);
    return res;
  }

  /** g [n, d] += zᵀ·m, with m [rows, d]: touches only the rows of g that z uses; with
   *  overwrite, g = zᵀ·m (its old contents ignored). */
  sparseAccumulate(z: SparseRows, m: Float32Array, d: number, g: Float32Array, overwrite = false): void {
    size('d', d);
    need(d > 0 && g.length % d === 0, `G has ${g.length} elements, not a positive multiple of d=${d}`);
    const n = g.length / d;
    sparse(z, n);
    len('M', m, z.rows * d);
    this.kernels.sparseAccumulate(z.rowPtr, z.idx, z.vals, z.rows, m, d, n, g, overwrite);
  }

  /** For each entry p of row b of z: m[b,:]·w[idx[p],:]; returns [nnz]. */
  sparseDot(z: SparseRows, m: Float32Array, w: Float32Array, d: number, out?: Float32Array): Float32Array {
    size('d', d);
    need(d > 0 && w.length % d === 0, `W has ${w.length} elements, not a positive multiple of d=${d}`);
    sparse(z, w.length / d);
    len('M', m, z.rows * d);
    const res = out ?? new Float32Array(z.rowPtr[z.rows]!);
    len('out', res, z.rowPtr[z.rows]!);
    this.kernels.sparseDot(z.rowPtr, z.idx, z.rows, m, w, d, res);
    return res;
  }

  /** One Adam step in place on p with moments m, v (all the same length). */
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
    h: { lr: number; beta1: number; beta2: number; eps: number; step: number }): void {
    len('grad', g, p.length); len('adam m', m, p.length); len('adam v', v, p.length);
    need(Number.isInteger(h.step) && h.step >= 1, `adam step must be an integer >= 1, got ${h.step}`);
    this.kernels.adam(p, g, m, v, p.length, h.lr, h.beta1, h.beta2, h.eps, h.step);
  }

  /** Decoder step with unit rows: project g off each row of w [n, d], Adam, renormalize. */
  adamUnitRows(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, n: number, d: number,
    h: { lr: number; beta1: number; beta2: number; eps: number; step: number }): void {
    size('n', n); size('d', d); len('W', w, n * d); len('G', g, n * d); len('adam m', m, n * d); len('adam v', v, n * d);
    need(Number.isInteger(h.step) && h.step >= 1, `adam step must be an integer >= 1, got ${h.step}`);
    this.kernels.adamUnitRows(w, g, m, v, n, d, h.lr, h.beta1, h.beta2, h.eps, h.step);
  }

  rowNorms(w: Float32Array, n: number, d: number): Float32Array {
    size('n', n); size('d', d); len('W', w, n * d);
    const out = new Float32Array(n);
    this.kernels.rowNorms(w, n, d, out);
    return out;
  }

  normalizeRows(w: Float32Array, n: number, d: number): void {
    size('n', n); size('d', d); len('W', w, n * d);
    this.kernels.normalizeRows(w, n, d);
  }

  projectRowGrad(w: Float32Array, g: Float32Array, n: number, d: number): void {
    size('n', n); size('d', d); len('W', w, n * d); len('G', g, n * d);
    this.kernels.projectRowGrad(w, g, n, d);
  }

  /** MLP activation in place on x [n]: 'gelu' (tanh form, GPT-2), 'gelu_exact' (erf form,
   *  GPT-NeoX), 'swiglu' (silu(x)·u, llama) or 'geglu' (tanh-form gelu(x)·u, Gemma-2). */
  activate(x: Float32Array, n: number, kind: Activation, u: Float32Array | null = null): void {
    size('n', n); len('x', x, n);
    const code = ACTIVATIONS.indexOf(kind);
    need(code >= 0, `activation must be one of ${ACTIVATIONS.join(', ')}, got ${String(kind)}`);
    const gated = kind === 'swiglu' || kind === 'geglu';
    if (gated) len('u', u ?? new Float32Array(0), n);
    this.kernels.activate(x, gated ? u : null, n, code as 0 | 1 | 2 | 3);
  }

  /** Causal attention over a KV cache (see Kernels.attention): q, out [batch·T, nHeads·hd];
   *  k, v [batch·cap, nKv·hd]; softcap and window 0 (or left out) for none. */
  attention(o: { q: Float32Array; k: Float32Array; v: Float32Array; out: Float32Array; batch: number; T: number; pos0: number;
    cap: number; nHeads: number; nKv: number; hd: number; scale: number; softcap?: number; window?: number }): void {
    const { q, k, v, out, batch, T, pos0, cap, nHeads, nKv, hd, scale, softcap = 0, window = 0 } = o;
    need(softcap >= 0 && Number.isInteger(window) && window >= 0, `softcap (${softcap}) and window (${window}) must be >= 0`);
    for (const [name, x] of Object.entries({ batch, T, pos0, cap, nHeads, nKv, hd })) size(name, x);
    need(nKv > 0 && nHeads % nKv === 0, `nHeads (${nHeads}) must be a multiple of nKv (${nKv})`);
    need(pos0 + T <= cap, `pos0 + T = ${pos0 + T} exceeds the cache capacity ${cap}`);
    len('q', q, batch * T * nHeads * hd); len('out', out, batch * T * nHeads * hd);
    len('k', k, batch * cap * nKv * hd); len('v', v, batch * cap * nKv * hd);
    if (batch === 0 || T === 0) return;
    this.kernels.attention(q, k, v, out, batch, T, pos0, cap, nHeads, nKv, hd, scale, softcap, window);
  }

  /** Each unit row's most negative cosine to another row of w [n, d], and that row's index. */
  minCosine(w: Float32Array, n: number, d: number, block = 2048): { vals: Float32Array; idx: Int32Array } {
    size('n', n); size('d', d); len('W', w, n * d);
    need(Number.isInteger(block) && block >= 1, `block must be a positive integer, got ${block}`);
    const vals = new Float32Array(n), idx = new Int32Array(n);
    this.kernels.minCosine(w, n, d, block, vals, idx);
    return { vals, idx };
  }
}

export const referenceBackend = new Backend('reference', referenceKernels);

let nativeCache: { backend: Backend; addon: NativeAddon } | null | undefined;
let warned = false;

/** The native backend, or null (with the reason) when the addon is not available. */
export function nativeBackend(): { backend: Backend; addon: NativeAddon } | { reason: string } {
  if (nativeCache) return nativeCache;
  const got = loadNative();
  if (!got.ok) return { reason: got.reason };
  const info = got.addon.info();
  nativeCache = { backend: new Backend('native', got.addon, { fast: info.bf16Fast, detail: info.bf16 }), addon: got.addon };
  return nativeCache;
}

/**
 * The backend to use: SAEKIT_BACKEND=reference|native forces one; otherwise native when the
 * addon loads, else reference with one warning on stderr saying how to get the fast one.
 */
export function getBackend(prefer: BackendName | undefined = process.env.SAEKIT_BACKEND as BackendName | undefined): Backend {
  if (prefer === 'reference') return referenceBackend;
  const native = nativeBackend();
  if ('backend' in native) return native.backend;
  if (prefer === 'native') throw new Error(`saekit: SAEKIT_BACKEND=native but ${native.reason}. Build it with: apt-get install -y libopenblas-dev && npm run build:native`);
  if (!warned) {
    warned = true;
    process.stderr.write(`saekit: warning: ${native.reason}; running on the slow pure-TypeScript reference backend.\n` +
      `  For the fast one: apt-get install -y libopenblas-dev build-essential && npm run build:native\n`);
  }
  return referenceBackend;
}
