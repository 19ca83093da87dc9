/**
 * Pure-TypeScript kernels, accumulating in float64: the oracle the native addon is tested
 * against, and the fallback when the addon cannot be built. Simple over fast.
 */
import { bf16ToF32, f32ToBf16 } from '../util/bf16.js';
import { erf } from '../util/erf.js';
import type { Kernels } from './kernels.js';

/** NaN ranks as -Infinity (see kernels.ts). */
const rankKey = (v: number): number => (Number.isNaN(v) ? -Infinity : v);

/** Negative when (av, ai) ranks above (bv, bi). */
export function rankCompare(av: number, ai: number, bv: number, bi: number): number {
  const ka = rankKey(av), kb = rankKey(bv);
  if (ka !== kb) return ka > kb ? -1 : 1;
  return ai - bi;
}

/** Allowed columns of one row sorted best first, by value v[j]. */
function sortedCandidates(v: (j: number) => number, cols: number, mask: Uint8Array | null): number[] {
  const cand: number[] = [];
  for (let j = 0; j < cols; j++) if (!mask || mask[j]) cand.push(j);
  return cand.sort((a, b) => rankCompare(v(a), a, v(b), b));
}

export const referenceKernels: Kernels = {
  sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? a[p * lda + i]! : a[i * lda + p]!;
          const bv = transB ? b[j * ldb + p]! : b[p * ldb + j]!;
          s += av * bv;
        }
        const prev = beta === 0 ? 0 : beta * c[i * ldc + j]!;
        c[i * ldc + j] = alpha * s + prev;
      }
    }
  },

  topkRows(x, rows, cols, k, mask, bias, outVals, outIdx) {
    for (let b = 0; b < rows; b++) {
      // the sum is rounded to float32 as the native kernel does
      const v = (j: number): number => (bias ? Math.fround(x[b * cols + j]! + bias[j]!) : x[b * cols + j]!);
      const order = sortedCandidates(v, cols, mask);
      for (let t = 0; t < k; t++) {
        const j = t < order.length ? order[t]! : -1;
        outIdx[b * k + t] = j;
        outVals[b * k + t] = j >= 0 ? v(j) : 0;
      }
    }
  },

  topkBatch(x, rows, cols, kTotal, rowPtr, outIdx, outVals) {
    const total = rows * cols;
    const keep = Math.max(0, Math.min(kTotal, total));
    const all = Array.from({ length: total }, (_, e) => e);
    all.sort((a, b) => rankCompare(x[a]!, a, x[b]!, b));
    const chosen = all.slice(0, keep).sort((a, b) => a - b);
    rowPtr.fill(0);
    for (const e of chosen) rowPtr[Math.floor(e / cols) + 1]!++;
    for (let b = 0; b < rows; b++) rowPtr[b + 1]! += rowPtr[b]!;
    chosen.forEach((e, o) => {
      outIdx[o] = e % cols;
      outVals[o] = x[e]!;
    });
    return keep;
  },

  thresholdCount(x, rows, cols, theta, counts) {
    for (let b = 0; b < rows; b++) {
      let c = 0;
      for (let j = 0; j < cols; j++) if (x[b * cols + j]! > theta[j]!) c++;
      counts[b] = c;
    }
  },

  thresholdGather(x, rows, cols, theta, rowPtr, outIdx, outVals) {
    for (let b = 0; b < rows; b++) {
      let o = rowPtr[b]!;
      for (let j = 0; j < cols; j++) {
        const v = x[b * cols + j]!;
        if (v > theta[j]!) {
          outIdx[o] = j;
          outVals[o++] = v;
        }
      }
    }
  },

  sparseDecode(rowPtr, idx, vals, rows, w, d, bias, out) {
    const acc = new Float64Array(d);
    for (let b = 0; b < rows; b++) {
      for (let c = 0; c < d; c++) acc[c] = bias ? bias[c]! : 0;
      for (let p = rowPtr[b]!; p < rowPtr[b + 1]!; p++) {
        const i = idx[p]!;
        if (i < 0) continue;
        for (let c = 0; c < d; c++) acc[c]! += vals[p]! * w[i * d + c]!;
      }
      for (let c = 0; c < d; c++) out[b * d + c] = acc[c]!;
    }
  },

  sparseAccumulate(rowPtr, idx, vals, rows, m, d, n, g, overwrite) {
    if (overwrite) g.fill(0, 0, n * d);
    const acc = new Float64Array(n * d);
    for (let b = 0; b < rows; b++) {
      for (let p = rowPtr[b]!; p < rowPtr[b + 1]!; p++) {
        const i = idx[p]!;
        if (i < 0) continue;
        for (let c = 0; c < d; c++) acc[i * d + c]! += vals[p]! * m[b * d + c]!;
      }
    }
    for (let e = 0; e < n * d; e++) g[e]! += acc[e]!;
  },

  sparseDot(rowPtr, idx, rows, m, w, d, out) {
    for (let b = 0; b < rows; b++) {
      for (let p = rowPtr[b]!; p < rowPtr[b + 1]!; p++) {
        const i = idx[p]!;
        let s = 0;
        if (i >= 0) for (let c = 0; c < d; c++) s += m[b * d + c]! * w[i * d + c]!;
        out[p] = s;
      }
    }
  },

  adam(p, g, m, v, len, lr, beta1, beta2, eps, step) {
    const bc1 = 1 - beta1 ** step;
    const bc2 = 1 - beta2 ** step;
    for (let e = 0; e < len; e++) {
      const ge = g[e]!;
      m[e] = beta1 * m[e]! + (1 - beta1) * ge;
      v[e] = beta2 * v[e]! + (1 - beta2) * ge * ge;
      p[e] = p[e]! - (lr / bc1) * m[e]! / (Math.sqrt(v[e]! / bc2) + eps);
    }
  },

  adamUnitRows(w, g, m, v, n, d, lr, beta1, beta2, eps, step) {
    // by definition: the three kernels one after another
    referenceKernels.projectRowGrad(w, g, n, d);
    referenceKernels.adam(w, g, m, v, n * d, lr, beta1, beta2, eps, step);
    referenceKernels.normalizeRows(w, n, d);
  },

  rowNorms(w, n, d, out) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += w[i * d + c]! ** 2;
      out[i] = Math.sqrt(s);
    }
  },

  normalizeRows(w, n, d) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += w[i * d + c]! ** 2;
      if (s === 0) continue;
      const inv = 1 / Math.sqrt(s);
      for (let c = 0; c < d; c++) w[i * d + c]! *= inv;
    }
  },

  projectRowGrad(w, g, n, d) {
    for (let i = 0; i < n; i++) {
      let dot = 0, nn = 0;
      for (let c = 0; c < d; c++) {
        dot += w[i * d + c]! * g[i * d + c]!;
        nn += w[i * d + c]! ** 2;
      }
      if (nn === 0) continue;
      const a = dot / nn;
      for (let c = 0; c < d; c++) g[i * d + c]! -= a * w[i * d + c]!;
    }
  },

  activate(x, u, n, kind) {
    for (let i = 0; i < n; i++) {
      const a = x[i]!;
      if (kind === 2) {
        x[i] = 0.5 * a * (1 + erf(a / Math.SQRT2));
        continue;
      }
      const z = kind === 1 ? a : Math.sqrt(8 / Math.PI) * (a + 0.044715 * a * a * a);
      x[i] = (a / (1 + Math.exp(-z))) * (kind === 0 ? 1 : u![i]!);
    }
  },

  toBf16(src, dst, len) {
    f32ToBf16(src.subarray(0, len), dst);
  },

  gemmBf16(a, b, bias, c, m, n, k) {
    // bf16 values are exact in float32 and so are their products: this is f32 accumulation
    const af = bf16ToF32(a.subarray(0, m * k)), bf = bf16ToF32(b.subarray(0, n * k));
    this.sgemm(false, true, m, n, k, 1, af, k, bf, k, 0, c, n);
    if (bias) for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) c[i * n + j]! += bias[j]!;
  },

  encodeTopk(a, w, bias, m, n, d, k, outVals, outIdx, auxMask, kAux, auxVals, auxIdx) {
    // the definition: the whole pre-activation matrix, then the row top-k of it
    const pre = new Float32Array(m * n);
    if (a instanceof Uint16Array) this.gemmBf16(a, w as Uint16Array, null, pre, m, n, d);
    else this.sgemm(false, true, m, n, d, 1, a, d, w as Float32Array, d, 0, pre, n);
    this.topkRows(pre, m, n, k, null, bias, outVals, outIdx);
    if (auxMask && kAux > 0) this.topkRows(pre, m, n, kAux, auxMask, bias, auxVals!, auxIdx!);
  },

  attention(q, k, v, out, batch, T, pos0, cap, nHeads, nKv, hd, scale, softcap, window) {
    const qDim = nHeads * hd, kvDim = nKv * hd, group = nHeads / nKv;
    const s = new Float64Array(pos0 + T), o = new Float64Array(hd);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < nHeads; h++) {
        const kv = b * cap * kvDim + Math.floor(h / group) * hd;
        for (let t = 0; t < T; t++) {
          const qo = (b * T + t) * qDim + h * hd, vis = pos0 + t + 1;
          const j0 = window > 0 ? Math.max(0, vis - window) : 0;
          let max = -Infinity;
          for (let j = j0; j < vis; j++) {
            let dot = 0;
            for (let c = 0; c < hd; c++) dot += q[qo + c]! * k[kv + j * kvDim + c]!;
            s[j] = softcap > 0 ? softcap * Math.tanh((scale * dot) / softcap) : scale * dot;
            max = Math.max(max, s[j]!);
          }
          let sum = 0;
          for (let j = j0; j < vis; j++) sum += (s[j] = Math.exp(s[j]! - max));
          o.fill(0);
          for (let j = j0; j < vis; j++) for (let c = 0; c < hd; c++) o[c]! += s[j]! * v[kv + j * kvDim + c]!;
          for (let c = 0; c < hd; c++) out[qo + c] = o[c]! / sum;
        }
      }
    }
  },

  minCosine(w, n, d, _block, outVal, outIdx) {
    outVal.fill(Infinity);
    outIdx.fill(-1);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        let s = 0;
        for (let c = 0; c < d; c++) s += w[i * d + c]! * w[j * d + c]!;
        // j ascends, so a strict < keeps the smaller index on ties; NaN never wins.
        if (s < outVal[i]!) {
          outVal[i] = s;
          outIdx[i] = j;
        }
      }
    }
  },
};
