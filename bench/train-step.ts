/**
 * The TopK training step at d=768, n=32768, k=32, B=8192 (docs/design.md §7): the share of the step
 * spent in its dense encoder GEMM, measured in the same run, with and without AuxK.
 */
import type { Backend } from '../src/compute/backend.js';
import type { SaeParams } from '../src/sae/common.js';
import { initParams } from '../src/sae/init.js';
import { topkForwardBackward, TopKWorkspace } from '../src/sae/ksparse.js';
import { Adam } from '../src/train/adam.js';
import { Rng } from '../src/util/rng.js';
import { bestOf, fmt } from './timing.js';

export function benchTrainStep(be: Backend, s: { B: number; n: number; d: number; k: number },
  report: (what: string, value: string, note?: string) => void): void {
  const { B, n, d, k } = s;
  const rng = new Rng(3);
  const x = rng.normals(B * d);
  const params = initParams(be, { d, n }, rng, x.subarray(0, 256 * d), 256);
  const grads: SaeParams = { W_enc: new Float32Array(n * d), b_enc: new Float32Array(n), W_dec: new Float32Array(n * d), b_dec: new Float32Array(d) };
  const adam = new Adam(params);
  const opts = { k, multiTopK: false, kAux: d / 2, auxAlpha: 1 / 32 };
  const ws = new TopKWorkspace(B, n, d, opts);
  const deadEvery = (m: number) => new Uint8Array(n).map((_, i) => (i % m === 0 ? 1 : 0));
  const step = (mask: Uint8Array | null, auxPath: 'auto' | 'sparse' = 'auto') => () => {
    topkForwardBackward(be, params, x, B, { ...opts, auxPath }, ws, mask, grads);
    adam.update(be, params, grads, 1e-4, { W_dec: d });
  };
  const gemm = bestOf(3, () => be.gemm({ a: ws.xc, b: params.W_enc, c: ws.pre, m: B, n, k: d, transB: true }));
  const plain = bestOf(3, step(null));
  report(`TopK step d=${d} n=${n} k=${k} B=${B}: GEMM / step`, fmt(gemm / plain), `target >= 0.75; step ${fmt(plain)} s, ${fmt(B / plain)} tokens/s`);
  for (const [label, every, path] of [['1% dead', 100, 'auto'], ['10% dead', 10, 'auto'], ['10% dead, sparse AuxK path', 10, 'sparse']] as const) {
    const sec = bestOf(2, step(deadEvery(every), path));
    report(`same step with AuxK (${label}, k_aux=d/2): GEMM / step`, fmt(gemm / sec), `step ${fmt(sec)} s, ${fmt(B / sec)} tokens/s`);
  }
}
