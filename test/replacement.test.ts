// The replacement model of one prompt on stories260K: the recorded forward equals the model's
// own; transcoders with error terms reproduce the clean logits; with patterns and norms frozen
// and the MLPs replaced the logits are linear in what enters the residual stream; an
// intervention on a feature changes only what comes after it. Needs ../shared.
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { loadLm } from '../src/lm/load.js';
import { frozenForward, replacementMlps, traceForward } from '../src/lm/replacement.js';
import type { Sae } from '../src/sae/common.js';
import { Rng } from '../src/util/rng.js';
import { sharedPath } from './helpers.js';

const stories = sharedPath('models/stories260K/stories260K.bin');

/** A random TopK transcoder 64 → 64 (its quality does not matter: the error terms absorb it). */
function transcoder(seed: number, n = 96, k = 6): Sae {
  const rng = new Rng(seed), d = 64;
  const W_dec = rng.normals(n * d, 0.3);
  return { cfg: { format: 'saekit-sae', arch: 'topk', d, n, k, dOut: d, multiTopK: false, data: '' },
    params: { W_enc: rng.normals(n * d, 0.3), b_enc: new Float32Array(n), W_dec, b_dec: rng.normals(d, 0.05) } };
}

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe.skipIf(!stories)('replacement model (stories260K)', async () => {
  const be = getBackend();
  const { model, tokenizer } = stories ? await loadLm(stories, be) : ({} as never);
  const tokens = stories ? Int32Array.from([tokenizer.bos, ...tokenizer.encode('Once upon a time, there was a little dog named Max. Max liked to')]) : new Int32Array(0);
  const T = tokens.length;
  const V = stories ? model.config.vocabSize : 0;

  it('the recorded forward is the model\'s own: the same logits, patterns that are causal distributions', () => {
    const trace = traceForward(model, tokens);
    const ref = model.logits(model.forward(tokens, 1)!, 0, T);
    expect(maxDiff(trace.logits, ref)).toBeLessThan(1e-4);
    expect(trace.layers).toHaveLength(5);
    const p = trace.layers[2]!.pattern;
    for (let h = 0; h < 8; h++) {
      for (let t = 0; t < T; t++) {
        let sum = 0;
        for (let j = 0; j < T; j++) { sum += p[(h * T + t) * T + j]!; if (j > t) expect(p[(h * T + t) * T + j]).toBe(0); }
        expect(sum).toBeCloseTo(1, 12);
      }
    }
    // nothing replaced, everything frozen at the clean values: the clean logits again
    expect(maxDiff(frozenForward(model, trace, () => null).logits, trace.logits)).toBeLessThan(1e-5);
  });

  it('transcoders at every layer with their error terms reproduce the clean logits; without them the logits move', () => {
    const trace = traceForward(model, tokens);
    const tcs = new Map([0, 1, 2, 3, 4].map((l) => [l, transcoder(l + 1)]));
    const withErrors = frozenForward(model, trace, replacementMlps(be, trace, tcs)).logits;
    expect(maxDiff(withErrors, trace.logits)).toBeLessThan(1e-4);
    // each layer's transcoder reads the clean MLP input in the replacement model
    const run = frozenForward(model, trace, replacementMlps(be, trace, tcs));
    for (let l = 0; l < 5; l++) expect(maxDiff(run.mlpIn[l]!, trace.layers[l]!.mlpIn)).toBeLessThan(1e-4);
    // a feature set to zero at layer 1, position 5 (the largest there): the logits before position 5 stay, later ones move
    const probe = { latent: -1, value: 0 };
    frozenForward(model, trace, replacementMlps(be, trace, tcs, (layer, acts, idx, rowPtr) => {
      if (layer !== 1) return;
      for (let p = rowPtr[5]!; p < rowPtr[6]!; p++) if (acts[p]! > probe.value) { probe.latent = idx[p]!; probe.value = acts[p]!; }
    }));
    expect(probe.value).toBeGreaterThan(0);
    const edit = (layer: number, acts: Float32Array, idx: Int32Array, rowPtr: Int32Array): void => {
      if (layer === 1) for (let p = rowPtr[5]!; p < rowPtr[6]!; p++) if (idx[p] === probe.latent) acts[p] = 0;
    };
    const ablated = frozenForward(model, trace, replacementMlps(be, trace, tcs, edit)).logits;
    expect(maxDiff(ablated.subarray(0, 5 * V), trace.logits.subarray(0, 5 * V))).toBeLessThan(1e-4);
    expect(maxDiff(ablated.subarray(5 * V), trace.logits.subarray(5 * V))).toBeGreaterThan(1e-3);
  });

  it('frozen, with every MLP replaced by a constant, the logits are linear in what a feature writes', () => {
    const trace = traceForward(model, tokens);
    // each layer's output held at its clean value, plus a direction u scaled by a at layer 0, position 3
    const u = new Rng(4).normals(64, 0.5);
    const logitsAt = (a: number): Float32Array => frozenForward(model, trace, (l) => {
      const out = trace.layers[l]!.mlpOut.slice();
      if (l === 0) for (let j = 0; j < 64; j++) out[3 * 64 + j]! += a * u[j]!;
      return out;
    }).logits;
    const f0 = logitsAt(0), f1 = logitsAt(1), f2 = logitsAt(2), fm = logitsAt(-1.5);
    for (let e = 0; e < f0.length; e += 7) {
      const slope = f1[e]! - f0[e]!;
      expect(f2[e]! - f0[e]!).toBeCloseTo(2 * slope, 3);
      expect(fm[e]! - f0[e]!).toBeCloseTo(-1.5 * slope, 3);
    }
    // and not linear when the patterns and norms follow the change (the model itself)
    const live = (a: number): Float32Array => {
      const out = model.forward(tokens, 1, { hook: (l, site, x) => { if (l === 0 && site === 'mlp_out') for (let j = 0; j < 64; j++) x[3 * 64 + j]! += a * u[j]!; } })!;
      return model.logits(out, 0, T);
    };
    const g0 = live(0), g1 = live(1), g2 = live(2);
    let bent = 0;
    for (let e = 0; e < g0.length; e++) bent = Math.max(bent, Math.abs(g2[e]! - g0[e]! - 2 * (g1[e]! - g0[e]!)));
    expect(bent).toBeGreaterThan(1e-3);
  });
});
