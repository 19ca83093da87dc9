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
import type { Activation, Backend } from '../compute/backend.js';
import type { Sae } from '../sae/common.js';
import { encode } from '../sae/encode.js';
import type { LayerWeights, Transformer } from './transformer.js';

/** A normalization's clean statistics per position: the denominator as 1/√(mean square + eps)
 *  (of x − mean for a LayerNorm), and the LayerNorm's mean (recorded; a frozen norm centres live). */
export interface FrozenNorm {
  scale: Float64Array;
  mean: Float64Array | null;
}

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
  const { logits, normF } = run(model, tokens, {
    norm: (_l, _which, x, w, b) => normalize(x, model.config.dim, model.config.normEps, w, b, null),
    pattern: null,
    mlp: () => null,
    record: (t) => layers.push(t),
  });
  return { tokens, T: tokens.length, layers, normF: normF!, logits };
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
    norm: (l, which, x, w, b) => normalize(x, model.config.dim, model.config.normEps, w, b,
      which === 'final' ? trace.normF : which === 1 ? trace.layers[l]!.norm1 : trace.layers[l]!.norm2),
    pattern: (l) => trace.layers[l]!.pattern,
    mlp: (l, h) => {
      mlpIn[l] = h.slice();
      return mlp(l, h);
    },
    record: null,
  });
  return { logits, mlpIn };
}

/**
 * Transcoders (mlp_in → mlp_out) in place of the MLPs of the layers given, with the error terms
 * of one prompt's trace: at layer l, mlp_out = recon_l(code of mlp_in) + error_l, where error_l =
 * clean mlp_out − recon_l(clean mlp_in). `edit` may change a layer's code before it is decoded
 * (an intervention: set a feature's activation at a position).
 */
export function replacementMlps(be: Backend, trace: Trace, transcoders: Map<number, Sae>,
  edit?: (layer: number, acts: Float32Array, indices: Int32Array, rowPtr: Int32Array) => void): MlpReplacement {
  const errors = new Map<number, Float32Array>();
  for (const [l, tc] of transcoders) {
    const t = trace.layers[l];
    if (!t) throw new Error(`layer ${l}: the model has layers 0..${trace.layers.length - 1}`);
    if (tc.cfg.dOut === undefined) throw new Error(`layer ${l}: an MLP is replaced by a transcoder (mlp_in → mlp_out), not an SAE`);
    const recon = encode(be, tc, t.mlpIn, trace.T).recon;
    errors.set(l, Float32Array.from(t.mlpOut, (v, e) => v - recon[e]!));
  }
  return (l, h) => {
    const tc = transcoders.get(l);
    if (!tc) return null;
    const { z } = encode(be, tc, h, trace.T);
    if (edit) edit(l, z.vals, z.idx, z.rowPtr);
    const out = be.sparseDecode(z, tc.params.W_dec, tc.cfg.dOut!, tc.params.b_dec);
    if (tc.params.W_skip) be.gemm({ a: h, b: tc.params.W_skip, c: out, m: trace.T, n: tc.cfg.dOut!, k: tc.cfg.d, transB: true, beta: 1 });
    const err = errors.get(l)!;
    for (let e = 0; e < out.length; e++) out[e]! += err[e]!;
    return out;
  };
}

interface RunHooks {
  /** the residual stream's start [T, dim] instead of the tokens' embeddings */
  embedding?: Float32Array;
  /** a normalization of x [T, dim] (layer, which: 1, 2 or 'final') */
  norm(layer: number, which: 1 | 2 | 'final', x: Float32Array, weight: Float32Array, bias: Float32Array | undefined): { y: Float32Array; frozen: FrozenNorm };
  /** frozen patterns of a layer, or null to compute them */
  pattern: ((layer: number) => Float64Array) | null;
  mlp(layer: number, h: Float32Array): Float32Array | null;
  record: ((t: LayerTrace) => void) | null;
}

/** One sequence through the blocks (the same arithmetic as Transformer.forward, in TS). */
function run(model: Transformer, tokens: Int32Array, hooks: RunHooks): { logits: Float32Array; normF: FrozenNorm | null } {
  const c = model.config, w = model.weights, be = model.be;
  const T = tokens.length, d = c.dim, hd = c.headDim, qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd;
  if (T === 0 || T > c.maxSeqLen) throw new Error(`the prompt has ${T} tokens; ${model.source} takes 1..${c.maxSeqLen}`);
  const x = hooks.embedding ? hooks.embedding.slice() : embed(model, tokens);
  const linear = (a: Float32Array, W: Float32Array, bias: Float32Array | undefined, n: number, k: number): Float32Array => {
    const y = new Float32Array(T * n);
    if (bias) for (let t = 0; t < T; t++) y.set(bias, t * n);
    be.gemm({ a, b: W, c: y, m: T, n, k, transB: true, beta: bias ? 1 : 0 });
    return y;
  };
  const act: Activation = c.act ?? (c.family === 'gpt2' ? 'gelu' : 'swiglu');
  for (let l = 0; l < c.nLayers; l++) {
    const L: LayerWeights = w.layers[l]!;
    const n1 = hooks.norm(l, 1, x, L.norm1, L.norm1Bias);
    const q = linear(n1.y, L.wq, L.bq, qDim, d), k = linear(n1.y, L.wk, L.bk, kvDim, d), v = linear(n1.y, L.wv, L.bv, kvDim, d);
    const pattern = hooks.pattern ? hooks.pattern(l) : softmaxPatterns(model, q, k, T);
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
    const n2pre = c.parallelResidual ? hooks.norm(l, 2, x, L.norm2, L.norm2Bias) : null;
    for (let e = 0; e < T * d; e++) x[e]! += attnOut[e]!;
    const n2 = n2pre ?? hooks.norm(l, 2, x, L.norm2, L.norm2Bias);
    const h = n2.y;
    let out = hooks.mlp(l, h);
    if (!out) {
      const g = linear(h, L.w1, L.b1, c.hiddenDim, d);
      const u = act === 'swiglu' || act === 'geglu' ? linear(h, L.w3!, undefined, c.hiddenDim, d) : undefined;
      be.activate(g, T * c.hiddenDim, act, u);
      out = linear(g, L.w2, L.b2, d, c.hiddenDim);
    }
    hooks.record?.({ norm1: n1.frozen, pattern, norm2: n2.frozen, mlpIn: h.slice(), mlpOut: out.slice() });
    for (let e = 0; e < T * d; e++) x[e]! += out[e]!;
  }
  const nf = hooks.norm(c.nLayers, 'final', x, w.normF, w.normFBias);
  return { logits: model.logits(nf.y, 0, T), normF: nf.frozen };
}

/** The tokens' embeddings (with the embedding scale and learned positions) [T, dim]: the
 *  residual stream's start. */
export function embed(model: Transformer, tokens: Int32Array): Float32Array {
  const c = model.config, w = model.weights, d = c.dim, T = tokens.length;
  const x = new Float32Array(T * d);
  for (let t = 0; t < T; t++) {
    const id = tokens[t]!;
    if (!(id >= 0 && id < c.vocabSize)) throw new Error(`token id ${id} is outside the model's vocabulary of ${c.vocabSize}`);
    x.set(w.embed.subarray(id * d, (id + 1) * d), t * d);
    if (c.embedScale !== undefined) for (let j = 0; j < d; j++) x[t * d + j]! *= c.embedScale;
    if (w.posEmbed) for (let j = 0; j < d; j++) x[t * d + j]! += w.posEmbed[t * d + j]!;
  }
  return x;
}

/** Causal softmax patterns [heads, T, T] of q [T, heads·hd] against k [T, kvHeads·hd] after the
 *  rotary embedding, in float64. */
function softmaxPatterns(model: Transformer, q: Float32Array, k: Float32Array, T: number): Float64Array {
  const c = model.config, hd = c.headDim, qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd, group = c.nHeads / c.nKvHeads;
  rotate(model, q, T, c.nHeads);
  rotate(model, k, T, c.nKvHeads);
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

/** The rotary embedding in place (the first rotaryDims of each head), position t for row t. */
function rotate(model: Transformer, x: Float32Array, T: number, heads: number): void {
  const c = model.config;
  if (c.rope === 'none') return;
  const hd = c.headDim, rd = c.rotaryDims ?? hd, half = rd / 2, width = heads * hd;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const freq = 1 / Math.pow(c.ropeTheta, (2 * i) / rd), a = t * freq;
      const co = Math.cos(a), si = Math.sin(a);
      for (let h = 0; h < heads; h++) {
        const o = t * width + h * hd;
        const i0 = o + (c.rope === 'interleaved' ? 2 * i : i), i1 = o + (c.rope === 'interleaved' ? 2 * i + 1 : i + half);
        const u = x[i0]!, v = x[i1]!;
        x[i0] = u * Math.fround(co) - v * Math.fround(si);
        x[i1] = u * Math.fround(si) + v * Math.fround(co);
      }
    }
  }
}

/** RMSNorm (no bias) or LayerNorm (bias) of rows x [T, d]; with `frozen`, its denominators are
 *  used instead of x's own (a LayerNorm's centring, linear in x, stays live): the norm is then
 *  linear in x (affine, with a bias). */
function normalize(x: Float32Array, d: number, eps: number, weight: Float32Array, bias: Float32Array | undefined, frozen: FrozenNorm | null): { y: Float32Array; frozen: FrozenNorm } {
  const T = x.length / d, y = new Float32Array(x.length);
  const scale = frozen?.scale ?? new Float64Array(T), mean = bias ? new Float64Array(T) : null;
  for (let t = 0; t < T; t++) {
    const o = t * d;
    let m = 0;
    if (mean) {
      for (let j = 0; j < d; j++) m += x[o + j]!;
      mean[t] = m /= d;
    }
    if (!frozen) {
      let ss = 0;
      for (let j = 0; j < d; j++) { const u = x[o + j]! - m; ss += u * u; }
      scale[t] = 1 / Math.sqrt(ss / d + eps);
    }
    const s = scale[t]!;
    for (let j = 0; j < d; j++) y[o + j] = weight[j]! * ((x[o + j]! - m) * s) + (bias ? bias[j]! : 0);
  }
  return { y, frozen: { scale, mean } };
}
