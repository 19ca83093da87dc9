/**
 * One decoder-only transformer forward for the llama family, GPT-2, GPT-NeoX (Pythia) and
 * Gemma-2, on the compute backend. Per block:
 *   resid_mid  = resid_pre + attn_out,   attn_out = Wo · attention(norm1(resid_pre))
 *   resid_post = resid_mid + mlp_out,    mlp_out  = MLP(mlp_in), mlp_in = norm2(resid_mid)
 * llama: RMSNorm, rotary q/k, grouped KV heads, MLP = W2(silu(W1 h) ⊙ W3 h).
 * GPT-2: LayerNorm with bias, learned positions, biases, MLP = W2 gelu_tanh(W1 h + b1) + b2.
 * GPT-NeoX: LayerNorm with bias, rotary on the first rotaryDims of each head, exact GELU, and
 *   (parallel residual) mlp_in = norm2(resid_pre): attention and MLP read the same stream.
 * Gemma-2: RMSNorm with weight 1 + w (folded in at load), the embedding times √dim, a norm
 *   after attention and after the MLP (attn_out and mlp_out are what the stream adds),
 *   GeGLU, attention scores soft-capped, a sliding window on some layers, logits soft-capped.
 * A forward takes a chunk of T new tokens for B sequences that continue a KV cache, so the
 * batched prefill (cache empty, T = context) and incremental decoding (T = 1) are one code path.
 * Every hook site is read out and may be overwritten in place by a hook.
 */
import type { Activation, Backend } from '../compute/backend.js';

export const SITES = ['resid_pre', 'attn_out', 'resid_mid', 'mlp_in', 'mlp_out', 'resid_post'] as const;
export type Site = (typeof SITES)[number];

export interface LmConfig {
  family: 'llama' | 'gpt2' | 'neox' | 'gemma2';
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxSeqLen: number;
  normEps: number;
  /** rotary pairs: (2i, 2i+1) as llama2.c, or (i, i + headDim/2) as Hugging Face; none for GPT-2 */
  rope: 'interleaved' | 'half' | 'none';
  ropeTheta: number;
  /** head dims that rotate (GPT-NeoX's partial rotary); default headDim */
  rotaryDims?: number;
  /** the MLP's activation; default swiglu for llama, gelu (tanh form) for GPT-2 */
  act?: Activation;
  /** attention and MLP both read resid_pre (GPT-NeoX's use_parallel_residual) */
  parallelResidual?: boolean;
  /** scores are scale·q·k; default 1/√headDim */
  attnScale?: number;
  /** attention scores capped to c·tanh(s/c) (Gemma-2) */
  attnSoftcap?: number;
  /** logits capped to c·tanh(l/c) (Gemma-2) */
  finalSoftcap?: number;
  /** per layer: the sliding-window length, 0 for full attention (Gemma-2) */
  windows?: number[];
  /** the embedding is multiplied by this (Gemma-2: √dim in the weights' dtype) */
  embedScale?: number;
}

/** All matrices [out, in] row-major (nn.Linear's layout). */
export interface LayerWeights {
  norm1: Float32Array; norm1Bias?: Float32Array;
  wq: Float32Array; wk: Float32Array; wv: Float32Array; wo: Float32Array;
  bq?: Float32Array; bk?: Float32Array; bv?: Float32Array; bo?: Float32Array;
  norm2: Float32Array; norm2Bias?: Float32Array;
  /** gate (llama) or fc (GPT-2) [hidden, dim] */
  w1: Float32Array; b1?: Float32Array;
  /** up projection (llama only) [hidden, dim] */
  w3?: Float32Array;
  /** down projection [dim, hidden] */
  w2: Float32Array; b2?: Float32Array;
  /** Gemma-2: norms applied to the attention's and the MLP's outputs */
  postAttnNorm?: Float32Array; postMlpNorm?: Float32Array;
}

export interface ModelWeights {
  embed: Float32Array; // [vocab, dim]
  posEmbed?: Float32Array; // [maxSeqLen, dim]
  layers: LayerWeights[];
  normF: Float32Array; normFBias?: Float32Array;
  head: Float32Array; // [vocab, dim], may be the embedding itself
}

/** Called at every site of every layer with the site's rows x [rows, dim], in the order of the
 *  chunk's tokens [B, T]; a hook may overwrite x in place to splice something else in. */
export type Hook = (layer: number, site: Site, x: Float32Array, rows: number) => void;

/** Keys and values of every layer for B sequences: [B, capacity, kvDim] each. */
export class KvCache {
  readonly batch: number;
  readonly capacity: number;
  length = 0;
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  constructor(cfg: LmConfig, batch: number, capacity: number) {
    this.batch = batch;
    this.capacity = capacity;
    const size = batch * capacity * cfg.nKvHeads * cfg.headDim;
    this.k = Array.from({ length: cfg.nLayers }, () => new Float32Array(size));
    this.v = Array.from({ length: cfg.nLayers }, () => new Float32Array(size));
  }
}

export interface ForwardOptions {
  cache?: KvCache;
  hook?: Hook;
  /** stop after this layer's resid_post (extraction needs no more) */
  lastLayer?: number;
}

export class Transformer {
  readonly config: LmConfig;
  readonly weights: ModelWeights;
  readonly be: Backend;
  /** what the model was loaded from, for manifests and messages */
  readonly source: string;

  constructor(config: LmConfig, weights: ModelWeights, be: Backend, source: string) {
    this.config = config;
    this.weights = weights;
    this.be = be;
    this.source = source;
  }

  /**
   * Runs tokens [B, T] (row-major, continuing `cache` when given) through the blocks.
   * Returns the final-normed hidden states [B·T, dim] (null when stopped early by lastLayer);
   * logits come from `logits()` in row chunks, since [B·T, vocab] can be large.
   */
  forward(tokens: Int32Array, batch: number, o: ForwardOptions = {}): Float32Array | null {
    const c = this.config, w = this.weights;
    const T = batch === 0 ? 0 : tokens.length / batch;
    if (!Number.isInteger(T)) throw new Error(`forward: ${tokens.length} tokens do not split into ${batch} sequences`);
    const cache = o.cache ?? new KvCache(c, batch, T);
    if (cache.batch !== batch) throw new Error(`forward: the KV cache holds ${cache.batch} sequences, the batch has ${batch}`);
    const pos0 = cache.length;
    if (pos0 + T > cache.capacity) throw new Error(`forward: ${pos0 + T} positions exceed the KV cache's ${cache.capacity}`);
    if (pos0 + T > c.maxSeqLen) throw new Error(`forward: position ${pos0 + T - 1} is past the model's context of ${c.maxSeqLen}`);
    const R = batch * T, d = c.dim, kvDim = c.nKvHeads * c.headDim, qDim = c.nHeads * c.headDim;
    const x = this.embed(tokens, T, pos0);
    const h = new Float32Array(R * d), q = new Float32Array(R * qDim), k = new Float32Array(R * kvDim), v = new Float32Array(R * kvDim);
    const att = new Float32Array(R * qDim), out = new Float32Array(R * d);
    const act = this.act();
    const g = new Float32Array(R * c.hiddenDim), u = act === 'swiglu' || act === 'geglu' ? new Float32Array(R * c.hiddenDim) : null;
    const last = o.lastLayer ?? c.nLayers - 1;
    const rope = c.rope === 'none' ? null : this.ropeTable(T, pos0);
    const hook = o.hook ?? (() => undefined);
    for (let l = 0; l <= last; l++) {
      const L = w.layers[l]!;
      hook(l, 'resid_pre', x, R);
      this.norm(x, R, L.norm1, L.norm1Bias, h);
      this.linear(h, R, L.wq, L.bq, q, qDim, d);
      this.linear(h, R, L.wk, L.bk, k, kvDim, d);
      this.linear(h, R, L.wv, L.bv, v, kvDim, d);
      if (rope) {
        this.rope(q, R, T, c.nHeads, rope);
        this.rope(k, R, T, c.nKvHeads, rope);
      }
      for (let b = 0; b < batch; b++) {
        const dst = (b * cache.capacity + pos0) * kvDim;
        cache.k[l]!.set(k.subarray(b * T * kvDim, (b + 1) * T * kvDim), dst);
        cache.v[l]!.set(v.subarray(b * T * kvDim, (b + 1) * T * kvDim), dst);
      }
      this.be.attention({
        q, k: cache.k[l]!, v: cache.v[l]!, out: att, batch, T, pos0, cap: cache.capacity, nHeads: c.nHeads, nKv: c.nKvHeads, hd: c.headDim,
        scale: c.attnScale ?? 1 / Math.sqrt(c.headDim), softcap: c.attnSoftcap ?? 0, window: c.windows?.[l] ?? 0,
      });
      this.linear(att, R, L.wo, L.bo, out, d, qDim);
      if (L.postAttnNorm) this.norm(out, R, L.postAttnNorm, undefined, out);
      hook(l, 'attn_out', out, R);
      // a parallel block's MLP reads resid_pre, normed before the attention's output joins it
      if (c.parallelResidual) this.norm(x, R, L.norm2, L.norm2Bias, h);
      for (let e = 0; e < R * d; e++) x[e]! += out[e]!;
      hook(l, 'resid_mid', x, R);
      if (!c.parallelResidual) this.norm(x, R, L.norm2, L.norm2Bias, h);
      hook(l, 'mlp_in', h, R);
      this.linear(h, R, L.w1, L.b1, g, c.hiddenDim, d);
      if (u) this.linear(h, R, L.w3!, undefined, u, c.hiddenDim, d);
      this.be.activate(g, R * c.hiddenDim, act, u);
      this.linear(g, R, L.w2, L.b2, out, d, c.hiddenDim);
      if (L.postMlpNorm) this.norm(out, R, L.postMlpNorm, undefined, out);
      hook(l, 'mlp_out', out, R);
      for (let e = 0; e < R * d; e++) x[e]! += out[e]!;
      hook(l, 'resid_post', x, R);
    }
    cache.length = pos0 + T;
    if (last < c.nLayers - 1) return null;
    this.norm(x, R, w.normF, w.normFBias, h);
    return h;
  }

  /** logits [rows, vocab] of hidden rows [start, start+rows) of a forward's output. */
  logits(hidden: Float32Array, start: number, rows: number, out = new Float32Array(rows * this.config.vocabSize)): Float32Array {
    const d = this.config.dim, cap = this.config.finalSoftcap;
    this.linear(hidden.subarray(start * d, (start + rows) * d), rows, this.weights.head, undefined, out, this.config.vocabSize, d);
    if (cap) for (let e = 0; e < rows * this.config.vocabSize; e++) out[e] = cap * Math.tanh(out[e]! / cap);
    return out;
  }

  /** The residual stream's start for tokens [B, T] at positions pos0 … pos0+T−1: each token's
   *  embedding (times the embedding scale) plus its learned position, [B·T, dim]. */
  embed(tokens: Int32Array, T: number, pos0 = 0): Float32Array {
    const c = this.config, w = this.weights, d = c.dim, R = tokens.length;
    const x = new Float32Array(R * d);
    for (let r = 0; r < R; r++) {
      const id = tokens[r]!;
      if (!(id >= 0 && id < c.vocabSize)) throw new Error(`forward: token id ${id} is outside the model's vocabulary of ${c.vocabSize}`);
      x.set(w.embed.subarray(id * d, (id + 1) * d), r * d);
      if (c.embedScale !== undefined) for (let j = 0; j < d; j++) x[r * d + j]! *= c.embedScale;
      if (w.posEmbed) {
        const p = pos0 + (r % T);
        for (let j = 0; j < d; j++) x[r * d + j]! += w.posEmbed[p * d + j]!;
      }
    }
    return x;
  }

  /** The MLP's activation. */
  act(): Activation {
    return this.config.act ?? (this.config.family === 'gpt2' ? 'gelu' : 'swiglu');
  }

  /** y [R, n] = x [R, k] · W^T (+ bias) */
  linear(x: Float32Array, R: number, W: Float32Array, bias: Float32Array | undefined, y: Float32Array, n: number, k: number): void {
    if (R === 0) return;
    // a bias is copied into every row first and the GEMM adds onto it (beta = 1)
    if (bias) for (let r = 0; r < R; r++) y.set(bias, r * n);
    this.be.gemm({ a: x.subarray(0, R * k), b: W, c: y.subarray(0, R * n), m: R, n, k, transB: true, beta: bias ? 1 : 0 });
  }

  /** RMSNorm (no bias) or LayerNorm (with bias), row by row, accumulated in float64. With
   *  `scales`: each row's denominator 1/√(mean square + eps) is recorded there, or, `frozen`,
   *  taken from there instead of computed (the norm is then linear in x; a LayerNorm still
   *  centres x by its own mean). */
  norm(x: Float32Array, R: number, weight: Float32Array, bias: Float32Array | undefined, y: Float32Array,
    scales?: { scale: Float64Array; frozen: boolean }): void {
    const d = this.config.dim, eps = this.config.normEps;
    for (let r = 0; r < R; r++) {
      const o = r * d;
      let mean = 0;
      if (bias) {
        for (let j = 0; j < d; j++) mean += x[o + j]!;
        mean /= d;
      }
      let scale: number;
      if (scales?.frozen) {
        scale = scales.scale[r]!;
      } else {
        let ss = 0;
        for (let j = 0; j < d; j++) { const t = x[o + j]! - mean; ss += t * t; }
        scale = 1 / Math.sqrt(ss / d + eps);
        if (scales) scales.scale[r] = scale;
      }
      for (let j = 0; j < d; j++) y[o + j] = weight[j]! * ((x[o + j]! - mean) * scale) + (bias ? bias[j]! : 0);
    }
  }

  /** cos and sin [T, rotaryDims/2] of the rotary angles of positions pos0 .. pos0+T−1. */
  ropeTable(T: number, pos0: number): { cos: Float32Array; sin: Float32Array } {
    const rd = this.config.rotaryDims ?? this.config.headDim, half = rd / 2;
    const cos = new Float32Array(T * half), sin = new Float32Array(T * half);
    for (let i = 0; i < half; i++) {
      const freq = 1 / Math.pow(this.config.ropeTheta, (2 * i) / rd);
      for (let t = 0; t < T; t++) { const a = (pos0 + t) * freq; cos[t * half + i] = Math.cos(a); sin[t * half + i] = Math.sin(a); }
    }
    return { cos, sin };
  }

  /** Rotary embedding in place on rows [R, heads·headDim] (the first rotaryDims of each head);
   *  row r sits at position pos0 + r % T. */
  rope(x: Float32Array, R: number, T: number, heads: number, tab: { cos: Float32Array; sin: Float32Array }): void {
    const hd = this.config.headDim, half = (this.config.rotaryDims ?? hd) / 2, width = heads * hd;
    const interleaved = this.config.rope === 'interleaved';
    const { cos, sin } = tab;
    for (let r = 0; r < R; r++) {
      const tb = (r % T) * half;
      for (let hh = 0; hh < heads; hh++) {
        const o = r * width + hh * hd;
        for (let i = 0; i < half; i++) {
          const i0 = o + (interleaved ? 2 * i : i), i1 = o + (interleaved ? 2 * i + 1 : i + half);
          const a = x[i0]!, b = x[i1]!, co = cos[tb + i]!, si = sin[tb + i]!;
          x[i0] = a * co - b * si;
          x[i1] = a * si + b * co;
        }
      }
    }
  }
}
