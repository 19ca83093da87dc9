// GPT-NeoX (Pythia) and Gemma-2 against float64 transcriptions of transformers'
// modeling_gpt_neox.py and modeling_gemma2.py on random weights written as Hugging Face
// folders: logits of a batched forward and of incremental decoding with the KV cache, and hook
// sites named as TransformerLens names them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend, referenceBackend } from '../src/compute/backend.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { readHfModel } from '../src/lm/hf.js';
import { KvCache, Transformer, type Site } from '../src/lm/transformer.js';
import { erf } from '../src/util/erf.js';
import { Rng } from '../src/util/rng.js';
import { expectClose } from './helpers.js';

type Tensors = Record<string, { shape: number[]; data: Float32Array }>;
type Mat = Float64Array;

const rng = new Rng(2024);
const rand = (shape: number[], scale = 0.3): { shape: number[]; data: Float32Array } => ({ shape, data: rng.normals(shape.reduce((a, b) => a * b, 1), scale) });

function writeFolder(config: Record<string, unknown>, t: Tensors): string {
  const dir = mkdtempSync(join(tmpdir(), 'saekit-family-'));
  writeSafetensors(join(dir, 'model.safetensors'), Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { dtype: 'F32' as const, ...v }])));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

// ---- float64 building blocks, rows of a [T, n] matrix ----
const linear = (x: Mat, T: number, inDim: number, w: Float32Array, outDim: number, b?: Float32Array): Mat => {
  const y = new Float64Array(T * outDim);
  for (let t = 0; t < T; t++) for (let o = 0; o < outDim; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < inDim; i++) s += x[t * inDim + i]! * w[o * inDim + i]!;
    y[t * outDim + o] = s;
  }
  return y;
};
const layerNorm = (x: Mat, T: number, d: number, w: Float32Array, b: Float32Array, eps: number): Mat => x.map((_, e) => {
  const t = Math.floor(e / d), row = x.subarray(t * d, (t + 1) * d);
  const mu = row.reduce((a, v) => a + v, 0) / d, v = row.reduce((a, c) => a + (c - mu) ** 2, 0) / d;
  return ((x[e]! - mu) / Math.sqrt(v + eps)) * w[e % d]! + b[e % d]!;
});
const gemmaNorm = (x: Mat, T: number, d: number, w: Float32Array, eps: number): Mat => x.map((_, e) => {
  const t = Math.floor(e / d), row = x.subarray(t * d, (t + 1) * d);
  return (x[e]! / Math.sqrt(row.reduce((a, c) => a + c * c, 0) / d + eps)) * (1 + w[e % d]!);
});
const add = (a: Mat, b: Mat): Mat => a.map((v, i) => v + b[i]!);
/** rotate-half rotary on the first rd dims of each head of rows [T, heads·hd] at positions 0..T−1 */
function rope(x: Mat, T: number, heads: number, hd: number, rd: number, theta: number): Mat {
  const y = Float64Array.from(x), half = rd / 2;
  for (let t = 0; t < T; t++) for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) {
    const a = t / theta ** ((2 * i) / rd), o = (t * heads + h) * hd;
    const x1 = x[o + i]!, x2 = x[o + i + half]!;
    y[o + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
    y[o + i + half] = x2 * Math.cos(a) + x1 * Math.sin(a);
  }
  return y;
}
/** causal attention, optional soft cap and sliding window; kv head of query head h: h / (heads/kvHeads) */
function attend(q: Mat, k: Mat, v: Mat, T: number, heads: number, kvHeads: number, hd: number, scale: number, cap = 0, window = 0): Mat {
  const out = new Float64Array(T * heads * hd);
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / (heads / kvHeads));
    for (let t = 0; t < T; t++) {
      const js = Array.from({ length: t + 1 }, (_, j) => j).filter((j) => !window || t - j < window);
      const s = js.map((j) => {
        let dot = 0;
        for (let c = 0; c < hd; c++) dot += q[(t * heads + h) * hd + c]! * k[(j * kvHeads + g) * hd + c]!;
        return cap ? cap * Math.tanh((dot * scale) / cap) : dot * scale;
      });
      const m = Math.max(...s), e = s.map((z) => Math.exp(z - m)), z = e.reduce((a, b) => a + b, 0);
      for (let c = 0; c < hd; c++) out[(t * heads + h) * hd + c] = js.reduce((acc, j, i) => acc + (e[i]! / z) * v[(j * kvHeads + g) * hd + c]!, 0);
    }
  }
  return out;
}
const geluTanh = (a: number): number => 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a ** 3)));

/** runs a Transformer on sequences [B, T]: batched logits, incremental (cache) logits and sites */
function run(m: Transformer, tokens: number[][], sites: [number, Site][]) {
  const B = tokens.length, T = tokens[0]!.length, V = m.config.vocabSize;
  const seen = new Map<string, Float32Array>();
  const h = m.forward(Int32Array.from(tokens.flat()), B, { hook: (l, site, x, rows) => { if (sites.some(([a, b]) => a === l && b === site)) seen.set(`${l}.${site}`, x.slice(0, rows * m.config.dim)); } })!;
  const batched = m.logits(h, 0, B * T);
  const inc = new Float32Array(B * T * V), cache = new KvCache(m.config, B, T);
  const pre = 3;
  const hp = m.forward(Int32Array.from(tokens.flatMap((s) => s.slice(0, pre))), B, { cache })!;
  for (let b = 0; b < B; b++) for (let t = 0; t < pre; t++) inc.set(m.logits(hp, b * pre + t, 1), (b * T + t) * V);
  for (let t = pre; t < T; t++) {
    const ht = m.forward(Int32Array.from(tokens.map((s) => s[t]!)), B, { cache })!;
    for (let b = 0; b < B; b++) inc.set(m.logits(ht, b, 1), (b * T + t) * V);
  }
  return { batched, inc, seen };
}

const tokens = [[1, 7, 3, 19, 4, 4, 11], [5, 2, 17, 0, 9, 13, 6]];

describe('GPT-NeoX (Pythia)', () => {
  const dim = 24, heads = 3, hd = 8, hidden = 40, vocab = 21, nLayers = 2, pct = 0.5, eps = 1e-5, theta = 10000;
  const t: Tensors = { 'gpt_neox.embed_in.weight': rand([vocab, dim], 1), 'embed_out.weight': rand([vocab, dim]), 'gpt_neox.final_layer_norm.weight': rand([dim]), 'gpt_neox.final_layer_norm.bias': rand([dim]) };
  for (let l = 0; l < nLayers; l++) {
    const p = `gpt_neox.layers.${l}.`;
    Object.assign(t, {
      [`${p}input_layernorm.weight`]: rand([dim], 1), [`${p}input_layernorm.bias`]: rand([dim]), [`${p}post_attention_layernorm.weight`]: rand([dim], 1), [`${p}post_attention_layernorm.bias`]: rand([dim]),
      [`${p}attention.query_key_value.weight`]: rand([3 * dim, dim]), [`${p}attention.query_key_value.bias`]: rand([3 * dim]),
      [`${p}attention.dense.weight`]: rand([dim, dim]), [`${p}attention.dense.bias`]: rand([dim]),
      [`${p}mlp.dense_h_to_4h.weight`]: rand([hidden, dim]), [`${p}mlp.dense_h_to_4h.bias`]: rand([hidden]),
      [`${p}mlp.dense_4h_to_h.weight`]: rand([dim, hidden]), [`${p}mlp.dense_4h_to_h.bias`]: rand([dim]),
    });
  }
  const W = (n: string): Float32Array => t[n]!.data;

  /** transcribed from GPTNeoXLayer.forward / GPTNeoXAttention (qkv viewed [heads, 3·hd], chunked) */
  function reference(seq: number[], parallel: boolean) {
    const T = seq.length, sites: Record<string, Mat> = {};
    let x: Mat = new Float64Array(T * dim);
    seq.forEach((id, i) => x.set(W('gpt_neox.embed_in.weight').subarray(id * dim, (id + 1) * dim), i * dim));
    for (let l = 0; l < nLayers; l++) {
      const p = `gpt_neox.layers.${l}.`;
      const h1 = layerNorm(x, T, dim, W(`${p}input_layernorm.weight`), W(`${p}input_layernorm.bias`), eps);
      const qkv = linear(h1, T, dim, W(`${p}attention.query_key_value.weight`), 3 * dim, W(`${p}attention.query_key_value.bias`));
      const part = (which: number): Mat => {
        const out = new Float64Array(T * dim);
        for (let r = 0; r < T; r++) for (let h = 0; h < heads; h++) for (let c = 0; c < hd; c++) out[(r * heads + h) * hd + c] = qkv[r * 3 * dim + h * 3 * hd + which * hd + c]!;
        return out;
      };
      const q = rope(part(0), T, heads, hd, hd * pct, theta), k = rope(part(1), T, heads, hd, hd * pct, theta);
      const attn = linear(attend(q, k, part(2), T, heads, heads, hd, 1 / Math.sqrt(hd)), T, dim, W(`${p}attention.dense.weight`), dim, W(`${p}attention.dense.bias`));
      const mlpIn = layerNorm(parallel ? x : add(x, attn), T, dim, W(`${p}post_attention_layernorm.weight`), W(`${p}post_attention_layernorm.bias`), eps);
      sites[`${l}.mlp_in`] = mlpIn;
      const g = linear(mlpIn, T, dim, W(`${p}mlp.dense_h_to_4h.weight`), hidden, W(`${p}mlp.dense_h_to_4h.bias`)).map((a) => 0.5 * a * (1 + erf(a / Math.SQRT2)));
      const mlp = linear(g, T, hidden, W(`${p}mlp.dense_4h_to_h.weight`), dim, W(`${p}mlp.dense_4h_to_h.bias`));
      x = add(add(x, attn), mlp);
      sites[`${l}.resid_post`] = x;
    }
    const hf = layerNorm(x, T, dim, W('gpt_neox.final_layer_norm.weight'), W('gpt_neox.final_layer_norm.bias'), eps);
    return { logits: linear(hf, T, dim, W('embed_out.weight'), vocab), sites };
  }

  for (const parallel of [true, false]) {
    it(`${parallel ? 'parallel' : 'sequential'} residual: batched and cached logits and the sites equal the transcription`, () => {
      const dir = writeFolder({
        model_type: 'gpt_neox', hidden_size: dim, num_attention_heads: heads, num_hidden_layers: nLayers, intermediate_size: hidden, vocab_size: vocab,
        max_position_embeddings: 64, rotary_pct: pct, rotary_emb_base: theta, layer_norm_eps: eps, use_parallel_residual: parallel, hidden_act: 'gelu', tie_word_embeddings: false,
      }, t);
      const { config, weights } = readHfModel(dir);
      expect(config).toMatchObject({ family: 'neox', rotaryDims: 4, parallelResidual: parallel, act: 'gelu_exact' });
      for (const be of [getBackend(), referenceBackend]) {
        const got = run(new Transformer(config, weights, be, dir), tokens, [[0, 'mlp_in'], [1, 'resid_post']]);
        const refs = tokens.map((s) => reference(s, parallel));
        const want = Float64Array.from(refs.flatMap((r) => Array.from(r.logits)));
        expectClose(got.batched, want, { rtol: 1e-4, atol: 1e-4, label: `${be.name} batched logits` });
        expectClose(got.inc, want, { rtol: 1e-4, atol: 1e-4, label: `${be.name} cached logits` });
        expectClose(got.seen.get('0.mlp_in')!, refs.flatMap((r) => Array.from(r.sites['0.mlp_in']!)), { rtol: 1e-4, atol: 1e-4, label: 'mlp_in' });
        expectClose(got.seen.get('1.resid_post')!, refs.flatMap((r) => Array.from(r.sites['1.resid_post']!)), { rtol: 1e-4, atol: 1e-4, label: 'resid_post' });
      }
    });
  }
});

describe('Gemma-2', () => {
  const dim = 16, heads = 4, kvHeads = 2, hd = 8, hidden = 24, vocab = 23, nLayers = 3, eps = 1e-6, theta = 10000;
  const window = 3, attnCap = 2, finalCap = 1.5, qScalar = 6;
  const t: Tensors = { 'model.embed_tokens.weight': rand([vocab, dim], 0.5), 'model.norm.weight': rand([dim]) };
  for (let l = 0; l < nLayers; l++) {
    const p = `model.layers.${l}.`;
    Object.assign(t, {
      [`${p}input_layernorm.weight`]: rand([dim]), [`${p}post_attention_layernorm.weight`]: rand([dim]),
      [`${p}pre_feedforward_layernorm.weight`]: rand([dim]), [`${p}post_feedforward_layernorm.weight`]: rand([dim]),
      [`${p}self_attn.q_proj.weight`]: rand([heads * hd, dim], 0.6), [`${p}self_attn.k_proj.weight`]: rand([kvHeads * hd, dim], 0.6),
      [`${p}self_attn.v_proj.weight`]: rand([kvHeads * hd, dim]), [`${p}self_attn.o_proj.weight`]: rand([dim, heads * hd]),
      [`${p}mlp.gate_proj.weight`]: rand([hidden, dim]), [`${p}mlp.up_proj.weight`]: rand([hidden, dim]), [`${p}mlp.down_proj.weight`]: rand([dim, hidden]),
    });
  }
  const W = (n: string): Float32Array => t[n]!.data;

  /** transcribed from Gemma2DecoderLayer / Gemma2Attention (sliding window on even layers) / Gemma2ForCausalLM */
  function reference(seq: number[]) {
    const T = seq.length, sites: Record<string, Mat> = {};
    let x: Mat = new Float64Array(T * dim);
    seq.forEach((id, i) => { for (let c = 0; c < dim; c++) x[i * dim + c] = W('model.embed_tokens.weight')[id * dim + c]! * Math.sqrt(dim); });
    for (let l = 0; l < nLayers; l++) {
      const p = `model.layers.${l}.`;
      const h = gemmaNorm(x, T, dim, W(`${p}input_layernorm.weight`), eps);
      const q = rope(linear(h, T, dim, W(`${p}self_attn.q_proj.weight`), heads * hd), T, heads, hd, hd, theta);
      const k = rope(linear(h, T, dim, W(`${p}self_attn.k_proj.weight`), kvHeads * hd), T, kvHeads, hd, hd, theta);
      const v = linear(h, T, dim, W(`${p}self_attn.v_proj.weight`), kvHeads * hd);
      const a = attend(q, k, v, T, heads, kvHeads, hd, qScalar ** -0.5, attnCap, l % 2 === 0 ? window : 0);
      const attnOut = gemmaNorm(linear(a, T, heads * hd, W(`${p}self_attn.o_proj.weight`), dim), T, dim, W(`${p}post_attention_layernorm.weight`), eps);
      sites[`${l}.attn_out`] = attnOut;
      x = add(x, attnOut);
      const m = gemmaNorm(x, T, dim, W(`${p}pre_feedforward_layernorm.weight`), eps);
      const gate = linear(m, T, dim, W(`${p}mlp.gate_proj.weight`), hidden), up = linear(m, T, dim, W(`${p}mlp.up_proj.weight`), hidden);
      const mlpOut = gemmaNorm(linear(gate.map((g, i) => geluTanh(g) * up[i]!), T, hidden, W(`${p}mlp.down_proj.weight`), dim), T, dim, W(`${p}post_feedforward_layernorm.weight`), eps);
      x = add(x, mlpOut);
      sites[`${l}.resid_post`] = x;
    }
    const logits = linear(gemmaNorm(x, T, dim, W('model.norm.weight'), eps), T, dim, W('model.embed_tokens.weight'), vocab).map((z) => finalCap * Math.tanh(z / finalCap));
    return { logits, sites };
  }

  it('batched and cached logits (sliding window shorter than the sequence, capped scores and logits) and sites equal the transcription', () => {
    const dir = writeFolder({
      model_type: 'gemma2', hidden_size: dim, num_attention_heads: heads, num_key_value_heads: kvHeads, head_dim: hd, num_hidden_layers: nLayers,
      intermediate_size: hidden, vocab_size: vocab, max_position_embeddings: 64, rms_norm_eps: eps, rope_theta: theta, hidden_activation: 'gelu_pytorch_tanh',
      query_pre_attn_scalar: qScalar, sliding_window: window, attn_logit_softcapping: attnCap, final_logit_softcapping: finalCap, tie_word_embeddings: true,
    }, t);
    const { config, weights } = readHfModel(dir);
    expect(config).toMatchObject({ family: 'gemma2', windows: [window, 0, window], act: 'geglu' });
    for (const be of [getBackend(), referenceBackend]) {
      const got = run(new Transformer(config, weights, be, dir), tokens, [[0, 'attn_out'], [2, 'resid_post']]);
      const refs = tokens.map((s) => reference(s));
      const want = Float64Array.from(refs.flatMap((r) => Array.from(r.logits)));
      expectClose(got.batched, want, { rtol: 1e-4, atol: 1e-4, label: `${be.name} batched logits` });
      expectClose(got.inc, want, { rtol: 1e-4, atol: 1e-4, label: `${be.name} cached logits` });
      expectClose(got.seen.get('0.attn_out')!, refs.flatMap((r) => Array.from(r.sites['0.attn_out']!)), { rtol: 1e-4, atol: 1e-4, label: 'attn_out' });
      expectClose(got.seen.get('2.resid_post')!, refs.flatMap((r) => Array.from(r.sites['2.resid_post']!)), { rtol: 1e-4, atol: 1e-4, label: 'resid_post' });
      // the window matters here: without it the logits differ
      const full = new Transformer({ ...config, windows: undefined }, weights, be, dir);
      const diff = run(full, tokens, []).batched.reduce((a, v, i) => Math.max(a, Math.abs(v - want[i]!)), 0);
      expect(diff).toBeGreaterThan(1e-3);
    }
  });
});
