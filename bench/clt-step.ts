/**
 * The cross-layer transcoder's training step (src/sae/arch/clt.ts) against what the same latents
 * cost as one transcoder per layer: S layers of width d_m, m latents and k per layer, batch B,
 * Adam included in both. The CLT's decoder rows span every layer (the blocks before a latent's
 * own are held at zero), so its decode, decoder gradient and Adam touch S·d_m-wide rows.
 */
import type { Backend } from '../src/compute/backend.js';
import { Adam } from '../src/train/adam.js';
import { cltDims, cltForwardBackward, maskDecoder } from '../src/sae/arch/clt.js';
import type { SaeParams } from '../src/sae/common.js';
import { topkForwardBackward, TopKWorkspace } from '../src/sae/ksparse.js';
import { zerosLike } from '../src/sae/primitives.js';
import { Rng } from '../src/util/rng.js';
import { bestOf, fmt } from './timing.js';

export function benchCltStep(be: Backend, quick: boolean, report: (what: string, value: string, note?: string) => void): void {
  const [S, dm, m, B, k] = quick ? [4, 256, 2048, 1024, 32] : [4, 512, 8192, 4096, 32];
  const n = S * m, w = S * dm, rng = new Rng(5);
  const x = rng.normals(B * w), y = rng.normals(B * w);
  const unit = (rows: number, width: number): Float32Array => {
    const t = rng.normals(rows * width);
    be.normalizeRows(t, rows, width);
    return t;
  };
  const W_dec = unit(n, w);
  const g = cltDims(w, n, S);
  maskDecoder(W_dec, g);
  const p: SaeParams = { W_enc: unit(n, dm), b_enc: new Float32Array(n), W_dec, b_dec: new Float32Array(w) };
  const grads = zerosLike(p), adam = new Adam(p);
  const clt = bestOf(2, () => {
    cltForwardBackward(be, p, x, y, B, k, g, grads);
    adam.update(be, p, grads, 1e-4, { W_dec: w });
  });
  // the encoder's GEMMs alone: one [B, d_m] × [d_m, m] per layer
  const pre = new Float32Array(B * m), xs = x.subarray(0, B * dm);
  const gemms = bestOf(3, () => { for (let l = 0; l < S; l++) be.gemm({ a: xs, b: p.W_enc.subarray(l * m * dm, (l + 1) * m * dm), c: pre, m: B, n: m, k: dm, transB: true }); });
  // one transcoder per layer: the same latents, each decoding to its own layer only
  const opts = { k, multiTopK: false, kAux: 0, auxAlpha: 0, transcoder: true };
  const per = Array.from({ length: S }, () => {
    const q: SaeParams = { W_enc: unit(m, dm), b_enc: new Float32Array(m), W_dec: unit(m, dm), b_dec: new Float32Array(dm) };
    return { q, grads: zerosLike(q), adam: new Adam(q), ws: new TopKWorkspace(B, m, dm, opts, dm) };
  });
  const xl = x.subarray(0, B * dm), yl = y.subarray(0, B * dm);
  const perLayer = bestOf(2, () => {
    for (const t of per) {
      topkForwardBackward(be, t.q, xl, B, opts, t.ws, null, t.grads, yl);
      t.adam.update(be, t.q, t.grads, 1e-4, { W_dec: dm });
    }
  });
  const shape = `S=${S} d_m=${dm} m=${m} k=${k}/layer B=${B}`;
  report(`CLT step ${shape}: encoder GEMMs / step`, fmt(gemms / clt), `step ${fmt(clt)} s, ${fmt(B / clt)} tokens/s`);
  report('CLT step / per-layer transcoders\' steps (same latents)', fmt(clt / perLayer),
    `${S} TopK transcoders ${fmt(perLayer)} s; decoder floats: CLT stored ${S * S}·m·d_m (used: ${(S * (S + 1)) / 2}·m·d_m), per-layer ${S}·m·d_m`);
}
