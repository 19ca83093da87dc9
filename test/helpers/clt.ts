// Random per-layer transcoders of stories260K (d = 64) and the cross-layer transcoder made of
// them (the replacement-model and splice tests).
import { maskDecoder } from '../../src/sae/arch/clt.js';
import type { Sae } from '../../src/sae/common.js';
import { Rng } from '../../src/util/rng.js';

/** A random TopK transcoder 64 → 64 (its quality does not matter: the error terms absorb it). */
export function transcoder(seed: number, n = 96, k = 6): Sae {
  const rng = new Rng(seed), d = 64;
  const W_dec = rng.normals(n * d, 0.3);
  return { cfg: { format: 'saekit-sae', arch: 'topk', d, n, k, dOut: d, multiTopK: false, data: '' },
    params: { W_enc: rng.normals(n * d, 0.3), b_enc: new Float32Array(n), W_dec, b_dec: rng.normals(d, 0.05) } };
}

/** A cross-layer transcoder over the 5 layers: group l = transcoder l's latents; `cross`: its
 *  decoder rows also write to the later layers (random), else only to their own layer. */
export function cltOf(tcs: Sae[], cross: number): Sae {
  const d = 64, S = tcs.length, m = tcs[0]!.cfg.n, n = S * m, w = S * d, rng = new Rng(99);
  const W_dec = rng.normals(n * w, cross);
  tcs.forEach((tc, l) => {
    for (let i = 0; i < m; i++) W_dec.set(tc.params.W_dec.subarray(i * d, (i + 1) * d), (l * m + i) * w + l * d);
  });
  maskDecoder(W_dec, { S, dm: d, m });
  const cat = (get: (t: Sae) => Float32Array): Float32Array => {
    const parts = tcs.map(get), out = new Float32Array(parts.reduce((a, t) => a + t.length, 0));
    let o = 0;
    for (const t of parts) { out.set(t, o); o += t.length; }
    return out;
  };
  return { cfg: { format: 'saekit-sae', arch: 'clt', d: w, n, k: tcs[0]!.cfg.k, dOut: w, layers: S, multiTopK: false, data: '' },
    params: { W_enc: cat((t) => t.params.W_enc), b_enc: cat((t) => t.params.b_enc), W_dec, b_dec: cat((t) => t.params.b_dec) } };
}

