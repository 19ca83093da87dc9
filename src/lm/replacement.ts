/**
 * The replacement model of one prompt (Ameisen et al. 2025, "Circuit Tracing"; docs/design.md
 * §4.7): the model's forward over a prompt recorded (`traceForward`: every layer's normalization
 * scales, attention patterns, MLP input and output), then run again with each MLP replaced by a
 * transcoder's output plus a per-position error term (the clean output less the transcoder's
 * reconstruction of it), with the attention patterns and the normalization denominators frozen
 * at their clean values. With the error terms and nothing changed it reproduces the clean
 * logits; with everything frozen and the MLPs replaced, the residual stream is linear in what
 * the features write — what attribution graphs are read from. Interventions (a feature's
 * activation set, e.g. to zero) act on it.
 *
 * One sequence at a time. Families: llama, GPT-2, GPT-NeoX (RMSNorm or LayerNorm, rotary or
 * learned positions, biases, grouped KV heads, parallel residual); Gemma-2's soft caps, sliding
 * windows and extra norms are refused.
 */
import type { Backend, SparseRows } from '../compute/backend.js';
import { cltCode, cltDimsOf } from '../sae/arch/clt.js';
import type { Sae } from '../sae/common.js';
import { encode } from '../sae/encode.js';
import { addSkipPath } from '../sae/primitives.js';
import type { LayerWeights, Transformer } from './transformer.js';

/** A normalization's clean denominators 1/√(mean square + eps) per position (of x − mean for a
 *  LayerNorm, whose centring stays live when frozen: it is linear in x). */
export type FrozenNorm = Float64Array;

export interface LayerTrace {
  norm1: FrozenNorm;
  /** softmax patterns [heads, T, T] (row t: query position t over key positions ≤ t) */
  pattern: Float64Array;
  norm2: FrozenNorm;
  /** the MLP's input (mlp_in) and output (mlp_out) [T, dim] */
  mlpIn: Float32Array;
  mlpOut: Float32Array;
}

export interface Trace {
  tokens: Int32Array;
  T: number;
  layers: LayerTrace[];
  normF: FrozenNorm;
  /** logits [T, vocab] */
  logits: Float32Array;
}

/** What replaces layer l's MLP output in a run: given the MLP input in this run, the output
 *  [T, dim] (null: the model's own MLP). */
export type MlpReplacement = (layer: number, mlpIn: Float32Array) => Float32Array | null;

function refuseUnsupported(model: Transformer): void {
  const c = model.config;
  if (c.attnSoftcap || c.finalSoftcap || c.windows?.some((w) => w > 0) || model.weights.layers.some((L) => L.postAttnNorm || L.postMlpNorm)) {
    throw new Error(`${model.source}: the replacement model supports llama, GPT-2 and GPT-NeoX blocks; Gemma-2's soft caps, sliding windows and extra norms are not supported yet`);
  }
}

/** The model's forward over one prompt, recorded. */
export function traceForward(model: Transformer, tokens: Int32Array): Trace {
  refuseUnsupported(model);
  const layers: LayerTrace[] = [];
  const { logits, normF } = run(model, tokens, { frozen: null, mlp: () => null, record: (t) => layers.push(t) });
  return { tokens, T: tokens.length, layers, normF, logits };
}

/**
 * The prompt's forward with attention patterns and normalizations frozen at the trace's values
 * and each MLP output as `mlp` says (null: the model's own MLP on this run's input). Returns the
 * logits [T, vocab] and each layer's MLP input in this run.
 */
export function frozenForward(model: Transformer, trace: Trace, mlp: MlpReplacement, o: { embedding?: Float32Array } = {}): { logits: Float32Array; mlpIn: Float32Array[] } {
  refuseUnsupported(model);
  const mlpIn: Float32Array[] = [];
  const { logits } = run(model, trace.tokens, {
    ...(o.embedding ? { embedding: o.embedding } : {}),
    frozen: trace,
    mlp: (l, h) => {
      mlpIn[l] = h.slice();
      return mlp(l, h);
    },
    record: null,
  });
  return { logits, mlpIn };
}

/**
 * The features that replace the MLPs: a transcoder per layer (mlp_in → mlp_out), or one
 * cross-layer transcoder whose layer-l features write to the MLP outputs of layers l and after.
 * Features are numbered per layer (a CLT's latent l·m + i is feature i of layer l).
 */
export interface MlpFeatures {
  /** whether layer l's MLP is replaced */
  covers(l: number): boolean;
  /** layer l's code of its MLP input h [T, d]: CSR over positions, the layer's feature numbers */
  code(l: number, h: Float32Array, T: number): SparseRows;
  /** feature i of layer l's pre-activation on row `row` of an MLP input h */
  pre(l: number, i: number, h: Float32Array, row: number): number;
  /** what feature i of layer l writes to layer t's MLP output per unit of activation (t ≥ l), or
   *  null where it writes nothing */
  decoder(l: number, i: number, t: number): Float32Array | null;
  /** layer t's output besides the features, for its MLP input h [T, d]: b_dec (and a skip
   *  transcoder's skip path) */
  rest(t: number, h: Float32Array, T: number): Float32Array;
  /** the saekit latent feature i of layer l is, in the folder of that layer's transcoder */
  latent(l: number, i: number): number;
}

function dotRow(W: Float32Array, i: number, h: Float32Array, row: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += W[i * d + j]! * h[row * d + j]!;
  return s;
}

/** Per-layer transcoders (mlp_in → mlp_out) as MLP features. */
export function transcoderFeatures(be: Backend, transcoders: Map<number, Sae>): MlpFeatures {
  for (const [l, tc] of transcoders) if (tc.cfg.dOut === undefined) throw new Error(`layer ${l}: an MLP is replaced by a transcoder (mlp_in → mlp_out), not an SAE`);
  const get = (l: number): Sae => transcoders.get(l)!;
  return {
    covers: (l) => transcoders.has(l),
    code: (l, h, T) => encode(be, get(l), h, T).z,
    pre: (l, i, h, row) => get(l).params.b_enc[i]! + dotRow(get(l).params.W_enc, i, h, row, get(l).cfg.d),
    decoder: (l, i, t) => (t === l ? get(l).params.W_dec.subarray(i * get(l).cfg.dOut!, (i + 1) * get(l).cfg.dOut!) : null),
    rest(t, h, T) {
      const p = get(t).params, d = p.b_dec.length, out = new Float32Array(T * d);
      for (let r = 0; r < T; r++) out.set(p.b_dec, r * d);
      addSkipPath(be, p, h, T, out);
      return out;
    },
    latent: (_l, i) => i,
  };
}

/** A cross-layer transcoder (arch clt, a row holding layers first.. side by side) as MLP features. */
export function cltFeatures(be: Backend, clt: Sae, first: number): MlpFeatures {
  const g = cltDimsOf(clt.cfg), p = clt.params, w = g.S * g.dm;
  const group = (l: number): number => l - first;
  return {
    covers: (l) => l >= first && l < first + g.S,
    code(l, h, T) {
      const z = cltCode(be, clt, group(l), h, T);
      return { ...z, idx: z.idx.map((i) => i - group(l) * g.m) };
    },
    pre: (l, i, h, row) => p.b_enc[group(l) * g.m + i]! + dotRow(p.W_enc, group(l) * g.m + i, h, row, g.dm),
    decoder(l, i, t) {
      if (t < l || !this.covers(t)) return null;
      const o = (group(l) * g.m + i) * w + group(t) * g.dm;
      return p.W_dec.subarray(o, o + g.dm);
    },
    rest(t, _h, T) {
      const out = new Float32Array(T * g.dm), b = p.b_dec.subarray(group(t) * g.dm, (group(t) + 1) * g.dm);
      for (let r = 0; r < T; r++) out.set(b, r * g.dm);
      return out;
    },
    latent: (l, i) => group(l) * g.m + i,
  };
}

/** Adds what layer l's code writes (activation × decoder) to each layer's output [T, d]. */
function addWrites(f: MlpFeatures, l: number, z: SparseRows, outs: Float32Array[], d: number): void {
  for (let pos = 0; pos < z.rows; pos++) {
    for (let e = z.rowPtr[pos]!; e < z.rowPtr[pos + 1]!; e++) {
      const i = z.idx[e]!, a = z.vals[e]!;
      if (i < 0 || a === 0) continue;
      for (let t = l; t < outs.length; t++) {
        const dec = f.decoder(l, i, t);
        if (!dec) continue;
        const o = outs[t]!;
        for (let j = 0; j < d; j++) o[pos * d + j]! += a * dec[j]!;
      }
    }
  }
}

/**
 * The features in place of the MLPs they cover, with the error terms of one prompt's trace: at
 * layer t, mlp_out = what the features write to t (from this run's MLP inputs) + rest_t + error_t,
 * where error_t = clean mlp_out − the same on the clean MLP inputs. `edit` may change a layer's
 * code before it is decoded (an intervention: set a feature's activation at a position).
 */
export function replacementMlps(be: Backend, trace: Trace, features: MlpFeatures | Map<number, Sae>,
  edit?: (layer: number, acts: Float32Array, indices: Int32Array, rowPtr: Int32Array) => void): MlpReplacement {
  const f = features instanceof Map ? transcoderFeatures(be, features) : features;
  const L = trace.layers.length, T = trace.T, d = trace.layers[0]!.mlpIn.length / T;
  if (features instanceof Map) for (const l of features.keys()) if (!trace.layers[l]) throw new Error(`layer ${l}: the model has layers 0..${L - 1}`);
  const fresh = (): Float32Array[] => Array.from({ length: L }, () => new Float32Array(T * d));
  const clean = fresh();
  for (let l = 0; l < L; l++) if (f.covers(l)) addWrites(f, l, f.code(l, trace.layers[l]!.mlpIn, T), clean, d);
  const errors = new Map<number, Float32Array>();
  for (let l = 0; l < L; l++) {
    if (!f.covers(l)) continue;
    const rest = f.rest(l, trace.layers[l]!.mlpIn, T);
    errors.set(l, Float32Array.from(trace.layers[l]!.mlpOut, (v, e) => v - clean[l]![e]! - rest[e]!));
  }
  // this run's writes so far (a run calls layers 0..L−1 in order; layer 0 starts a new run)
  let outs = fresh();
  return (l, h) => {
    if (l === 0) outs = fresh();
    if (!f.covers(l)) return null;
    const z = f.code(l, h, T);
    if (edit) edit(l, z.vals, z.idx, z.rowPtr);
    addWrites(f, l, z, outs, d);
    const out = f.rest(l, h, T), err = errors.get(l)!, mine = outs[l]!;
    for (let e = 0; e < out.length; e++) out[e]! += mine[e]! + err[e]!;
    return out;
  };
}

interface RunHooks {
  /** the residual stream's start [T, dim] instead of the tokens' embeddings */
  embedding?: Float32Array;
  /** patterns and norm denominators frozen at this trace's (null: computed, and recorded) */
  frozen: Trace | null;
  mlp(layer: number, h: Float32Array): Float32Array | null;
  record: ((t: LayerTrace) => void) | null;
}

/** One sequence through the blocks with the model's own arithmetic (Transformer's embed, linear,
 *  norm, rotary and activation), the attention written out so its patterns can be kept. */
function run(model: Transformer, tokens: Int32Array, hooks: RunHooks): { logits: Float32Array; normF: FrozenNorm } {
  const c = model.config, w = model.weights, be = model.be;
  const T = tokens.length, d = c.dim, hd = c.headDim, qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd;
  if (T === 0 || T > c.maxSeqLen) throw new Error(`the prompt has ${T} tokens; ${model.source} takes 1..${c.maxSeqLen}`);
  const x = hooks.embedding ? hooks.embedding.slice() : model.embed(tokens, T);
  const linear = (a: Float32Array, W: Float32Array, bias: Float32Array | undefined, n: number, k: number): Float32Array => {
    const y = new Float32Array(T * n);
    model.linear(a, T, W, bias, y, n, k);
    return y;
  };
  // a normalization of x: its denominators recorded (a trace) or the trace's used (frozen)
  const norm = (x0: Float32Array, weight: Float32Array, bias: Float32Array | undefined, frozen: FrozenNorm | undefined): { y: Float32Array; scale: FrozenNorm } => {
    const y = new Float32Array(T * d), scale = frozen ?? new Float64Array(T);
    model.norm(x0, T, weight, bias, y, { scale, frozen: frozen !== undefined });
    return { y, scale };
  };
  const act = model.act();
  const rope = c.rope === 'none' ? null : model.ropeTable(T, 0);
  for (let l = 0; l < c.nLayers; l++) {
    const L: LayerWeights = w.layers[l]!, was = hooks.frozen?.layers[l];
    const n1 = norm(x, L.norm1, L.norm1Bias, was?.norm1);
    const v = linear(n1.y, L.wv, L.bv, kvDim, d);
    // the patterns: the trace's, or softmax(q·kᵀ) after the rotary embedding
    let pattern = was?.pattern;
    if (!pattern) {
      const q = linear(n1.y, L.wq, L.bq, qDim, d), k = linear(n1.y, L.wk, L.bk, kvDim, d);
      if (rope) {
        model.rope(q, T, T, c.nHeads, rope);
        model.rope(k, T, T, c.nKvHeads, rope);
      }
      pattern = softmaxPatterns(model, q, k, T);
    }
    const att = new Float32Array(T * qDim), group = c.nHeads / c.nKvHeads;
    for (let h = 0; h < c.nHeads; h++) {
      const kv = Math.floor(h / group) * hd;
      for (let t = 0; t < T; t++) {
        for (let e = 0; e < hd; e++) {
          let s = 0;
          for (let j = 0; j <= t; j++) s += pattern[(h * T + t) * T + j]! * v[j * kvDim + kv + e]!;
          att[t * qDim + h * hd + e] = s;
        }
      }
    }
    const attnOut = linear(att, L.wo, L.bo, d, qDim);
    // a parallel block's MLP reads resid_pre, normed before the attention's output joins it
    const n2pre = c.parallelResidual ? norm(x, L.norm2, L.norm2Bias, was?.norm2) : null;
    for (let e = 0; e < T * d; e++) x[e]! += attnOut[e]!;
    const n2 = n2pre ?? norm(x, L.norm2, L.norm2Bias, was?.norm2);
    const h = n2.y;
    let out = hooks.mlp(l, h);
    if (!out) {
      const g = linear(h, L.w1, L.b1, c.hiddenDim, d);
      const u = act === 'swiglu' || act === 'geglu' ? linear(h, L.w3!, undefined, c.hiddenDim, d) : undefined;
      be.activate(g, T * c.hiddenDim, act, u);
      out = linear(g, L.w2, L.b2, d, c.hiddenDim);
    }
    hooks.record?.({ norm1: n1.scale, pattern, norm2: n2.scale, mlpIn: h.slice(), mlpOut: out.slice() });
    for (let e = 0; e < T * d; e++) x[e]! += out[e]!;
  }
  const nf = norm(x, w.normF, w.normFBias, hooks.frozen?.normF);
  return { logits: model.logits(nf.y, 0, T), normF: nf.scale };
}

/** Causal softmax patterns [heads, T, T] of q [T, heads·hd] against k [T, kvHeads·hd] (after the
 *  rotary embedding), in float64. */
function softmaxPatterns(model: Transformer, q: Float32Array, k: Float32Array, T: number): Float64Array {
  const c = model.config, hd = c.headDim, qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd, group = c.nHeads / c.nKvHeads;
  const scale = c.attnScale ?? 1 / Math.sqrt(hd);
  const out = new Float64Array(c.nHeads * T * T), s = new Float64Array(T);
  for (let h = 0; h < c.nHeads; h++) {
    const kv = Math.floor(h / group) * hd;
    for (let t = 0; t < T; t++) {
      let max = -Infinity;
      for (let j = 0; j <= t; j++) {
        let dot = 0;
        for (let e = 0; e < hd; e++) dot += q[t * qDim + h * hd + e]! * k[j * kvDim + kv + e]!;
        s[j] = scale * dot;
        max = Math.max(max, s[j]!);
      }
      let sum = 0;
      for (let j = 0; j <= t; j++) sum += (s[j] = Math.exp(s[j]! - max));
      for (let j = 0; j <= t; j++) out[(h * T + t) * T + j] = s[j]! / sum;
    }
  }
  return out;
}
