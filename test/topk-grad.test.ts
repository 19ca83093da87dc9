// The hand-written sparse backward of the k-sparse family (TopK, Multi-TopK, BatchTopK,
// Matryoshka, each with AuxK) against central finite differences of an independent float64
// implementation of the same loss (docs/design.md §4.1, 4.3, 4.4).
import { describe, expect, it } from 'vitest';
import { referenceBackend, type Backend } from '../src/compute/backend.js';
import { PARAM_NAMES, type SaeParams } from '../src/sae/common.js';
import { topkForwardBackward, TopKWorkspace, type TopKLossOptions } from '../src/sae/ksparse.js';
import { Rng } from '../src/util/rng.js';
import { checkFd, nativeOrSkip } from './helpers.js';

/** Top-t indices of one row by value (ties: smaller index), restricted to allowed. */
function topIdx(v: number[], t: number, allowed: (i: number) => boolean): number[] {
  return v.map((_, i) => i).filter(allowed).sort((a, b) => v[b]! - v[a]! || a - b).slice(0, t);
}

/** The TopK loss of docs/design.md §4.1, written plainly in float64, AuxK as OpenAI's reference
 *  code computes it. AuxK's target x − x̂ is detached,
 *  so finite differences must hold it fixed: pass the reconstructions of the unperturbed
 *  parameters as frozenRecon (they are recorded into it when it is empty). */
function loss64(p: SaeParams, x: Float32Array, B: number, d: number, n: number, o: TopKLossOptions, dead: Uint8Array,
  frozenRecon: number[][], y: Float32Array = x, dOut = d): number {
  const mean = new Array(dOut).fill(0);
  for (let b = 0; b < B; b++) for (let c = 0; c < dOut; c++) mean[c] += y[b * dOut + c]! / B;
  let denom = 0;
  for (let b = 0; b < B; b++) for (let c = 0; c < dOut; c++) denom += (y[b * dOut + c]! - mean[c]) ** 2;
  const nDead = dead.reduce((a, v) => a + v, 0);
  const preAll = Array.from({ length: B }, (_, b) => Array.from({ length: n }, (_, i) => {
    let s = p.b_enc[i]!;
    for (let c = 0; c < d; c++) s += (x[b * d + c]! - (o.transcoder ? 0 : p.b_dec[c]!)) * p.W_enc[i * d + c]!;
    return s;
  }));
  // BatchTopK: the B·k largest entries of the whole batch
  const flat = preAll.flatMap((row, b) => row.map((v, i) => ({ v, b, i })));
  const batchKept = flat.sort((u, w) => w.v - u.v || u.b - w.b || u.i - w.i).slice(0, B * o.k);
  let total = 0;
  for (let b = 0; b < B; b++) {
    const pre = preAll[b]!;
    // a skip transcoder's x·W_skipᵀ joins every reconstruction (not AuxK's, which has no bias either)
    const skip = (c: number): number => (p.W_skip ? Array.from({ length: d }, (_, j) => x[b * d + j]! * p.W_skip![c * d + j]!).reduce((a, v) => a + v, 0) : 0);
    const decode = (ids: number[], bias: boolean): number[] => Array.from({ length: dOut }, (_, c) =>
      ids.reduce((s, i) => s + Math.max(pre[i]!, 0) * p.W_dec[i * dOut + c]!, bias ? p.b_dec[c]! + skip(c) : 0));
    const sq = (r: number[], target: (c: number) => number): number => r.reduce((s, v, c) => s + (v - target(c)) ** 2, 0);
    const xr = (c: number): number => y[b * dOut + c]!;
    const kept = o.selection === 'batch' ? batchKept.filter((e) => e.b === b).map((e) => e.i) : topIdx(pre, o.k, () => true);
    const recon = decode(kept, true);
    if (o.prefixes) for (const m of o.prefixes) total += sq(decode(kept.filter((i) => i < m), true), xr) / denom / o.prefixes.length;
    else total += sq(recon, xr) / denom;
    if (frozenRecon.length < B) frozenRecon.push(recon);
    if (o.multiTopK) total += sq(decode(topIdx(pre, 4 * o.k, () => true), true), xr) / denom / 8;
  }
  if (nDead > 0 && o.kAux > 0) {
    // OpenAI's train.py: auxk_coef · normalized_mse(decode(aux) + pre_bias, x − recons.detach() + pre_bias),
    // normalized_mse(out, t) = mse(out, t) / mse(mean over the batch of t, t): the bias cancels
    const e = Array.from({ length: B }, (_, b) => Array.from({ length: dOut }, (_, c) => y[b * dOut + c]! - frozenRecon[b]![c]!));
    const eMean = Array.from({ length: dOut }, (_, c) => e.reduce((s, row) => s + row[c]!, 0) / B);
    const eVar = e.reduce((s, row) => s + row.reduce((t, v, c) => t + (v - eMean[c]!) ** 2, 0), 0);
    let num = 0;
    for (let b = 0; b < B; b++) {
      const pre = preAll[b]!;
      const ids = topIdx(pre, o.kAux, (i) => dead[i] === 1);
      for (let c = 0; c < dOut; c++) num += (ids.reduce((s, i) => s + Math.max(pre[i]!, 0) * p.W_dec[i * dOut + c]!, 0) - e[b]![c]!) ** 2;
    }
    total += o.auxAlpha * num / eVar;
  }
  return total;
}

function checkGradients(be: Backend, o: TopKLossOptions, withSkip = false): void {
  const rng = new Rng(99);
  // a transcoder maps 6 input dimensions to 4 target dimensions
  const B = 5, d = 6, n = 14, dOut = o.transcoder ? 4 : d;
  const p: SaeParams = {
    W_enc: rng.normals(n * d, 0.5), b_enc: rng.normals(n, 0.3), W_dec: rng.normals(n * dOut, 0.5), b_dec: rng.normals(dOut, 0.2),
  };
  be.normalizeRows(p.W_dec, n, dOut);
  if (withSkip) p.W_skip = rng.normals(dOut * d, 0.3);
  const x = rng.normals(B * d);
  const y = o.transcoder ? rng.normals(B * dOut) : x;
  const dead = new Uint8Array(n).map((_, i) => (i % 3 === 0 ? 1 : 0));
  const ws = new TopKWorkspace(B, n, d, o, dOut);
  const grads: SaeParams = { W_enc: new Float32Array(n * d), b_enc: new Float32Array(n), W_dec: new Float32Array(n * dOut), b_dec: new Float32Array(dOut), ...(withSkip ? { W_skip: new Float32Array(dOut * d) } : {}) };
  const res = topkForwardBackward(be, p, x, B, o, ws, dead, grads, y);
  const frozen: number[][] = [];
  const lossAt = (): number => loss64(p, x, B, d, n, o, dead, frozen, y, dOut);
  expect(res.loss).toBeCloseTo(lossAt(), 5);
  checkFd(p, grads, withSkip ? [...PARAM_NAMES, 'W_skip'] : PARAM_NAMES, lossAt);
}

const skipCases: [string, TopKLossOptions][] = [
  ['skip transcoder (6 → 4) + AuxK (sparse path)', { k: 3, multiTopK: false, kAux: 3, auxAlpha: 0.5, auxPath: 'sparse', transcoder: true }],
  ['Multi-TopK skip transcoder + AuxK (dense path)', { k: 2, multiTopK: true, kAux: 4, auxAlpha: 0.25, auxPath: 'dense', transcoder: true }],
];

const cases: [string, TopKLossOptions][] = [
  ['TopK', { k: 3, multiTopK: false, kAux: 0, auxAlpha: 1 / 32 }],
  ['TopK + AuxK (sparse path)', { k: 3, multiTopK: false, kAux: 3, auxAlpha: 0.5, auxPath: 'sparse' }],
  ['TopK + AuxK (dense path)', { k: 3, multiTopK: false, kAux: 3, auxAlpha: 0.5, auxPath: 'dense' }],
  ['Multi-TopK + AuxK (sparse path)', { k: 2, multiTopK: true, kAux: 4, auxAlpha: 0.25, auxPath: 'sparse' }],
  ['Multi-TopK + AuxK (dense path)', { k: 2, multiTopK: true, kAux: 4, auxAlpha: 0.25, auxPath: 'dense' }],
  ['TopK + AuxK with k_aux >= #dead (dense path keeps all)', { k: 3, multiTopK: false, kAux: 6, auxAlpha: 0.5, auxPath: 'dense' }],
  ['BatchTopK', { k: 3, multiTopK: false, kAux: 0, auxAlpha: 0, selection: 'batch' }],
  ['BatchTopK + AuxK', { k: 3, multiTopK: false, kAux: 3, auxAlpha: 0.5, selection: 'batch' }],
  ['Matryoshka (prefixes 3, 8, 14) + AuxK', { k: 3, multiTopK: false, kAux: 3, auxAlpha: 0.5, selection: 'batch', prefixes: [3, 8, 14] }],
  ['TopK transcoder (6 → 4) + AuxK (sparse path)', { k: 3, multiTopK: false, kAux: 3, auxAlpha: 0.5, auxPath: 'sparse', transcoder: true }],
  ['Multi-TopK transcoder + AuxK (dense path)', { k: 2, multiTopK: true, kAux: 4, auxAlpha: 0.25, auxPath: 'dense', transcoder: true }],
  ['BatchTopK transcoder + AuxK', { k: 3, multiTopK: false, kAux: 3, auxAlpha: 0.5, selection: 'batch', transcoder: true }],
];

describe('k-sparse backward equals finite differences of the float64 loss', () => {
  it.each(cases)('%s on the reference backend', (_name, o) => checkGradients(referenceBackend, o));
  const nat = nativeOrSkip();
  it.skipIf(!nat).each(cases)('%s on the native backend', (_name, o) => checkGradients(nat!, o));
  it.each(skipCases)('%s on the reference backend', (_name, o) => checkGradients(referenceBackend, o, true));
  it.skipIf(!nat).each(skipCases)('%s on the native backend', (_name, o) => checkGradients(nat!, o, true));
});
