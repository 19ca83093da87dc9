/**
 * The TopK training step at d=768, n=32768, k=32, B=8192 (docs/design.md §7): the share of the step
 * spent in its dense encoder GEMM, measured in the same run, with and without AuxK; and the same
 * step with the encoder GEMM in bf16 (--precision bf16) against f32.
 */
import type { Backend, Precision } from '../src/compute/backend.js';
import type { SaeParams } from '../src/sae/common.js';
import { initParams } from '../src/sae/init.js';
import { encodeTopK, topkForwardBackward, TopKWorkspace } from '../src/sae/ksparse.js';
import { Bf16Encoder, centre } from '../src/sae/primitives.js';
import { Adam } from '../src/train/adam.js';
import { Rng } from '../src/util/rng.js';
import { bestOf, fmt } from './timing.js';

export interface StepShape { B: number; n: number; d: number; k: number }

/** A TopK step (forward, backward, Adam with unit decoder rows; the bf16 copy of W_enc
 *  refreshed inside the step, as the trainer does) at one precision; its encoder GEMM alone as
 *  a dense GEMM into the B×n pre-activation matrix (for bf16: the rows' conversion and the bf16
 *  GEMM); the separate row top-k of that matrix; and the step's own encode (the GEMM and the
 *  row top-k fused, be.encodeTopk). */
export function topkStepTimer(be: Backend, s: StepShape, precision: Precision) {
  const { B, n, d, k } = s;
  const rng = new Rng(3);
  const x = rng.normals(B * d);
  const params = initParams(be, { d, n }, rng, x.subarray(0, 256 * d), 256);
  const grads: SaeParams = { W_enc: new Float32Array(n * d), b_enc: new Float32Array(n), W_dec: new Float32Array(n * d), b_dec: new Float32Array(d) };
  const adam = new Adam(params);
  const bf16 = precision === 'bf16' ? new Bf16Encoder(params.W_enc).refresh(be) : null;
  const opts = { k, multiTopK: false, kAux: d / 2, auxAlpha: 1 / 32, bf16 };
  const ws = new TopKWorkspace(B, n, d, opts);
  // the centred rows, so that gemm and topk below see the step's own pre-activations
  centre(params, x, B, d, false, ws.xc);
  return {
    ws,
    step: (dead: Uint8Array | null = null, auxPath: 'auto' | 'sparse' = 'auto') => () => {
      bf16?.refresh(be);
      topkForwardBackward(be, params, x, B, { ...opts, auxPath }, ws, dead, grads);
      adam.update(be, params, grads, 1e-4, { W_dec: d });
    },
    gemm: () => {
      if (bf16) bf16.gemm(be, ws.xc, B, d, ws.pre);
      else be.gemm({ a: ws.xc, b: params.W_enc, c: ws.pre, m: B, n, k: d, transB: true });
    },
    topk: () => be.topk(ws.pre, B, n, k, { bias: params.b_enc, vals: ws.topVals, idx: ws.topIdx }),
    encode: () => encodeTopK(be, params, x, B, ws, k, { bf16 }),
  };
}

export function benchTrainStep(be: Backend, s: StepShape, report: (what: string, value: string, note?: string) => void): { bf16Gemm: number | null } {
  const { B, n, d, k } = s;
  const f32 = topkStepTimer(be, s, 'f32');
  const gemm = bestOf(3, f32.gemm);
  const plain = bestOf(3, f32.step());
  report(`TopK step d=${d} n=${n} k=${k} B=${B}: GEMM / step`, fmt(gemm / plain), `target >= 0.75; step ${fmt(plain)} s, ${fmt(B / plain)} tokens/s`);
  const deadEvery = (m: number) => new Uint8Array(n).map((_, i) => (i % m === 0 ? 1 : 0));
  for (const [label, every, path] of [['1% dead', 100, 'auto'], ['10% dead', 10, 'auto'], ['10% dead, sparse AuxK path', 10, 'sparse']] as const) {
    const sec = bestOf(2, f32.step(deadEvery(every), path));
    report(`same step with AuxK (${label}, k_aux=d/2): GEMM / step`, fmt(gemm / sec), `step ${fmt(sec)} s, ${fmt(B / sec)} tokens/s`);
  }
  const batchSec = bestOf(2, () => be.topkBatch(f32.ws.pre, B, n, B * k));
  report(`batch top-k (B·k=${B * k}) / f32 GEMM`, fmt(batchSec / gemm), 'target <= 0.25');
  if (!be.bf16.fast) {
    report('bf16 encoder GEMM', 'skipped', be.bf16.detail);
    return { bf16Gemm: null };
  }
  const bf = topkStepTimer(be, s, 'bf16');
  const bfGemm = bestOf(3, bf.gemm);
  const bfTopk = bestOf(3, bf.topk), bfEncode = bestOf(3, bf.encode);
  report('bf16 encode: fused GEMM + row top-k / GEMM then top-k', fmt(bfEncode / (bfGemm + bfTopk)),
    `fused ${fmt(bfEncode)} s (${fmt((2 * B * n * d) / bfEncode / 1e9)} GFLOP/s with the selection); GEMM ${fmt(bfGemm)} s + top-k ${fmt(bfTopk)} s`);
  const bfStep = bestOf(3, bf.step());
  report('bf16 GEMM / f32 GEMM speed', fmt(gemm / bfGemm), `target >= 1.7; ${be.bf16.detail}; ${fmt((2 * B * n * d) / bfGemm / 1e9)} GFLOP/s with the rows' conversion`);
  report('bf16 step / f32 step speed', fmt(plain / bfStep), `target >= 1.5; step ${fmt(bfStep)} s, ${fmt(B / bfStep)} tokens/s`);
  report('bf16 step: its encode (GEMM + top-k) / step', fmt(bfEncode / bfStep));
  report(`batch top-k (B·k=${B * k}) / bf16 GEMM`, fmt(batchSec / bfGemm), 'target <= 0.25');
  return { bf16Gemm: bfGemm };
}
