// The replacement model of one prompt on stories260K: the recorded forward equals the model's
// own; transcoders with error terms reproduce the clean logits; with patterns and norms frozen
// and the MLPs replaced the logits are linear in what enters the residual stream; an
// intervention on a feature changes only what comes after it. Needs ../shared.
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { loadLm } from '../src/lm/load.js';
import { attribute, pathEffect, prune } from '../src/analysis/attribution.js';
import { cltFeatures, frozenForward, replacementMlps, traceForward } from '../src/lm/replacement.js';
import type { Sae } from '../src/sae/common.js';
import { Rng } from '../src/util/rng.js';
import { sharedPath } from './helpers.js';
import { cltOf, transcoder } from './helpers/clt.js';

const stories = sharedPath('models/stories260K/stories260K.bin');

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

  it('attribution edges are the exact direct effects: they add up to each target\'s value less its value with no writes, and match finite differences', () => {
    const short = tokens.subarray(0, 8), Ts = short.length;
    const trace = traceForward(model, short);
    const tcs = new Map([0, 1, 2, 3, 4].map((l) => [l, transcoder(l + 11, 48, 4)]));
    const g = attribute(be, model, trace, tcs, { topLogits: 3 });
    const kinds = (k: string) => g.nodes.filter((n) => n.kind === k).length;
    expect(kinds('embedding')).toBe(Ts);
    expect(kinds('error')).toBe(5 * Ts);
    expect(kinds('feature')).toBeGreaterThan(5 * Ts * 2);
    expect(kinds('logit')).toBe(3);
    // nothing written anywhere: every target's remaining value (biases through the frozen stream)
    const zero = frozenForward(model, trace, () => new Float32Array(Ts * 64), { embedding: new Float32Array(Ts * 64) });
    const into = new Map<number, number>();
    for (const [, t, w] of g.edges) into.set(t, (into.get(t) ?? 0) + w);
    g.nodes.forEach((n, i) => {
      if (n.kind === 'logit') {
        const rest = zero.logits[(Ts - 1) * V + n.index!]!;
        expect(into.get(i)! + rest).toBeCloseTo(n.value, 3);
      }
      if (n.kind === 'feature') {
        const tc = tcs.get(n.layer)!;
        let rest = tc.params.b_enc[n.index!]!;
        for (let j = 0; j < 64; j++) rest += tc.params.W_enc[n.index! * 64 + j]! * zero.mlpIn[n.layer]![n.pos * 64 + j]!;
        // the node's value is its pre-activation (kept by the top k)
        expect((into.get(i) ?? 0) + rest).toBeCloseTo(n.value, 3);
      }
    });
    // a finite difference: one feature's write scaled by 1 + ε moves the top logit by ε times its edge
    const src = g.nodes.findIndex((n) => n.kind === 'feature' && n.layer === 1 && n.pos === Ts - 1);
    const tgt = g.nodes.findIndex((n) => n.kind === 'logit');
    const edge = g.edges.find(([s, t]) => s === src && t === tgt)?.[2] ?? 0;
    const node = g.nodes[src]!, tc = tcs.get(1)!, eps = 1e-2;
    const held = (scale: number) => frozenForward(model, trace, (l) => {
      const out = trace.layers[l]!.mlpOut.slice();
      if (l === 1) for (let j = 0; j < 64; j++) out[node.pos * 64 + j]! += (scale - 1) * node.value * tc.params.W_dec[node.index! * 64 + j]!;
      return out;
    }).logits[(Ts - 1) * V + g.nodes[tgt]!.index!]!;
    expect((held(1 + eps) - held(1 - eps)) / (2 * eps)).toBeCloseTo(edge, 3);
    expect(Math.abs(edge)).toBeGreaterThan(1e-4);
    // scores are shares; pruning keeps the embeddings and logits and the most influential nodes
    expect(g.replacementScore).toBeGreaterThan(0);
    expect(g.replacementScore).toBeLessThan(1);
    const p = prune(g, 0.5);
    expect(p.nodes.filter((n) => n.kind === 'logit')).toHaveLength(3);
    expect(p.nodes.length).toBeLessThan(g.nodes.length);
    for (const [s, t] of p.edges) expect(s < p.nodes.length && t < p.nodes.length).toBe(true);
    // the edge threshold keeps the edges that carry the most influence (share of the target's
    // incoming |weight| × the target's influence), fewer than all edges among the kept nodes
    const q = prune(g, 0.5, 0.9);
    expect(q.nodes).toHaveLength(p.nodes.length);
    expect(q.edges.length).toBeLessThan(p.edges.length);
    expect(q.edges.length).toBeGreaterThan(0);
    const inAbs = new Float64Array(g.nodes.length);
    for (const [, t, w] of g.edges) inAbs[t]! += Math.abs(w);
    const id = (graph: typeof p, [s, t, w]: [number, number, number]) => `${graph.nodes[s]!.id}>${graph.nodes[t]!.id}>${w}`;
    const keptIds = new Set(q.edges.map((e) => id(q, e)));
    const score = ([, t, w]: [number, number, number]) => (Math.abs(w) / inAbs[g.nodes.indexOf(p.nodes[t]!)]!) * p.nodes[t]!.influence;
    const keptScores = p.edges.filter((e) => keptIds.has(id(p, e))).map(score), dropped = p.edges.filter((e) => !keptIds.has(id(p, e))).map(score);
    expect(Math.min(...keptScores)).toBeGreaterThanOrEqual(Math.max(...dropped));
  });

  it('where no feature leaves or enters its code (every feature kept, all pre-activations positive), a feature zeroed in the replacement model moves the logits exactly as the graph\'s paths say', () => {
    const short = tokens.subarray(0, 6), Ts = short.length;
    const trace = traceForward(model, short);
    // k = n and a large b_enc: every feature active at every position whatever happens upstream
    const linearTc = (seed: number): Sae => {
      const t = transcoder(seed, 12, 12);
      t.params.b_enc.fill(40);
      for (let e = 0; e < t.params.W_enc.length; e++) t.params.W_enc[e]! *= 0.1;
      return t;
    };
    const tcs = new Map([0, 1, 2, 3, 4].map((l) => [l, linearTc(l + 21)]));
    const g = attribute(be, model, trace, tcs, { topLogits: 2 });
    const src = g.nodes.findIndex((n) => n.kind === 'feature' && n.layer === 0 && n.pos === 2 && n.index === 5);
    const tgt = g.nodes.findIndex((n) => n.kind === 'logit');
    const f = g.nodes[src]!, tok = g.nodes[tgt]!.index!;
    const logit = (edit?: Parameters<typeof replacementMlps>[3]) => frozenForward(model, trace, replacementMlps(be, trace, tcs, edit)).logits[(Ts - 1) * V + tok]!;
    const measured = logit((l, acts, idx, rowPtr) => { if (l === 0) for (let e = rowPtr[f.pos]!; e < rowPtr[f.pos + 1]!; e++) if (idx[e] === f.index) acts[e] = 0; }) - logit();
    const direct = -(g.edges.find(([s, t]) => s === src && t === tgt)?.[2] ?? 0);
    expect(Math.abs(measured)).toBeGreaterThan(1e-3);
    // the direct edge alone misses the paths through later features; all paths give it exactly
    expect(Math.abs(measured - direct)).toBeGreaterThan(1e-4);
    expect(pathEffect(g, src, tgt)).toBeCloseTo(measured, 4);
  });

  it('a cross-layer transcoder whose latents write only to their own layer is the per-layer transcoders: the same replacement logits and the same graph', () => {
    const short = tokens.subarray(0, 8), Ts = short.length;
    const trace = traceForward(model, short);
    const list = [0, 1, 2, 3, 4].map((l) => transcoder(l + 11, 48, 4));
    const tcs = new Map(list.map((t, l) => [l, t]));
    const clt = cltFeatures(be, cltOf(list, 0), 0);
    const edit = (layer: number, acts: Float32Array, idx: Int32Array, rowPtr: Int32Array): void => {
      if (layer === 2) for (let e = rowPtr[3]!; e < rowPtr[4]!; e++) acts[e] = 0;
    };
    expect(maxDiff(frozenForward(model, trace, replacementMlps(be, trace, clt, edit)).logits, frozenForward(model, trace, replacementMlps(be, trace, tcs, edit)).logits)).toBeLessThan(1e-4);
    const a = attribute(be, model, trace, tcs, { topLogits: 3 }), b = attribute(be, model, trace, clt, { topLogits: 3 });
    expect(b.nodes.map((n) => n.id)).toEqual(a.nodes.map((n) => n.id));
    // a CLT feature's latent in its folder is its group's offset plus its number in the layer
    const f = b.nodes.find((n) => n.kind === 'feature' && n.layer === 3)!;
    expect(f.latent).toBe(3 * 48 + f.index!);
    expect(b.edges).toHaveLength(a.edges.length);
    b.edges.forEach(([s2, t2, w2], e) => {
      expect([s2, t2]).toEqual([a.edges[e]![0], a.edges[e]![1]]);
      expect(w2).toBeCloseTo(a.edges[e]![2], 4);
    });
    expect(b.replacementScore).toBeCloseTo(a.replacementScore, 6);
    expect(Ts).toBe(8);
  });

  it('a cross-layer transcoder writing to later layers: with error terms the clean logits again, and its edges are the exact direct effects of all its writes', () => {
    const short = tokens.subarray(0, 7), Ts = short.length;
    const trace = traceForward(model, short);
    const sae = cltOf([0, 1, 2, 3, 4].map((l) => transcoder(l + 31, 40, 4)), 0.2);
    const clt = cltFeatures(be, sae, 0);
    expect(maxDiff(frozenForward(model, trace, replacementMlps(be, trace, clt)).logits, trace.logits)).toBeLessThan(1e-4);
    const g = attribute(be, model, trace, clt, { topLogits: 2 });
    // nothing written anywhere: each target's edges plus its value then add up to its value
    const zero = frozenForward(model, trace, () => new Float32Array(Ts * 64), { embedding: new Float32Array(Ts * 64) });
    const into = new Map<number, number>();
    for (const [, t, w] of g.edges) into.set(t, (into.get(t) ?? 0) + w);
    g.nodes.forEach((n, i) => {
      if (n.kind === 'logit') expect(into.get(i)! + zero.logits[(Ts - 1) * V + n.index!]!).toBeCloseTo(n.value, 3);
      if (n.kind === 'feature') expect((into.get(i) ?? 0) + clt.pre(n.layer, n.index!, zero.mlpIn[n.layer]!, n.pos)).toBeCloseTo(n.value, 3);
    });
    // a layer-0 feature writes to all five MLP outputs: its edge to the top logit is the central
    // difference of scaling all of those writes
    const src = g.nodes.findIndex((n) => n.kind === 'feature' && n.layer === 0 && n.pos === Ts - 1);
    const tgt = g.nodes.findIndex((n) => n.kind === 'logit');
    const node = g.nodes[src]!, eps = 1e-2;
    const held = (scale: number) => frozenForward(model, trace, (l) => {
      const out = trace.layers[l]!.mlpOut.slice(), dec = clt.decoder(0, node.index!, l)!;
      for (let j = 0; j < 64; j++) out[node.pos * 64 + j]! += (scale - 1) * node.value * dec[j]!;
      return out;
    }).logits[(Ts - 1) * V + g.nodes[tgt]!.index!]!;
    const edge = g.edges.find(([s2, t2]) => s2 === src && t2 === tgt)?.[2] ?? 0;
    expect((held(1 + eps) - held(1 - eps)) / (2 * eps)).toBeCloseTo(edge, 3);
    // and differs from what its own-layer write alone does
    const own = (scale: number) => frozenForward(model, trace, (l) => {
      const out = trace.layers[l]!.mlpOut.slice();
      if (l === 0) { const dec = clt.decoder(0, node.index!, 0)!; for (let j = 0; j < 64; j++) out[node.pos * 64 + j]! += (scale - 1) * node.value * dec[j]!; }
      return out;
    }).logits[(Ts - 1) * V + g.nodes[tgt]!.index!]!;
    expect(Math.abs((own(1 + eps) - own(1 - eps)) / (2 * eps) - edge)).toBeGreaterThan(1e-4);
  });
});
