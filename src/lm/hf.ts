/**
 * Hugging Face model folders: config.json plus model.safetensors (or shards listed in
 * model.safetensors.index.json). Llama/Mistral-style models (model_type llama, mistral, qwen2
 * without biases…), GPT-2, GPT-NeoX (Pythia) and Gemma-2, with tensor names and layouts as
 * transformers' modeling_*.py files define them. Weights of any float dtype are read as float32.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonObject } from '../io/json.js';
import { SafetensorsFile } from '../io/safetensors.js';
import type { LayerWeights, LmConfig, ModelWeights } from './transformer.js';

/** Tensor lookup across one or more safetensors files. */
class WeightFiles {
  readonly dir: string;
  #files = new Map<string, SafetensorsFile>();
  #where = new Map<string, string>();

  constructor(dir: string) {
    this.dir = dir;
    const index = join(dir, 'model.safetensors.index.json');
    if (existsSync(index)) {
      const map = readJsonObject(index).weight_map;
      if (typeof map !== 'object' || map === null) throw new Error(`${index}: no "weight_map" object`);
      for (const [name, file] of Object.entries(map as Record<string, unknown>)) this.#where.set(name, String(file));
    } else if (existsSync(join(dir, 'model.safetensors'))) {
      const f = this.#open('model.safetensors');
      for (const name of f.tensors.keys()) this.#where.set(name, 'model.safetensors');
    } else {
      throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json`);
    }
  }

  #open(file: string): SafetensorsFile {
    let f = this.#files.get(file);
    if (!f) this.#files.set(file, (f = SafetensorsFile.open(join(this.dir, file))));
    return f;
  }

  has(name: string): boolean {
    return this.#where.has(name);
  }

  /** A tensor as float32, its shape checked. */
  get(name: string, shape: number[]): Float32Array {
    const file = this.#where.get(name);
    if (!file) throw new Error(`${this.dir}: the weights have no tensor "${name}" (is this the model the config describes?)`);
    const f = this.#open(file);
    const info = f.info(name);
    if (info.shape.join(',') !== shape.join(',')) throw new Error(`${join(this.dir, file)}: "${name}" has shape [${info.shape}], config.json implies [${shape}]`);
    return f.readF32(name);
  }

  close(): void {
    for (const f of this.#files.values()) f.close();
  }
}

function num(cfg: Record<string, unknown>, path: string, key: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${path}: field "${key}" must be a positive number, got ${JSON.stringify(cfg[key])}`);
  return v;
}

/** [in, out] (GPT-2's Conv1D) → [out, in] */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c]!;
  return t;
}

export function readHfModel(dir: string): { config: LmConfig; weights: ModelWeights } {
  const cfgPath = join(dir, 'config.json');
  const cfg = readJsonObject(cfgPath);
  const type = String(cfg.model_type ?? '');
  const files = new WeightFiles(dir);
  try {
    if (type === 'gpt2') return readGpt2(cfg, cfgPath, files);
    if (type === 'gpt_neox') return readNeox(cfg, cfgPath, files);
    if (type === 'gemma2') return readGemma2(cfg, cfgPath, files);
    if (['llama', 'mistral', 'qwen2', 'qwen3'].includes(type) || (Array.isArray(cfg.architectures) && String(cfg.architectures[0]).includes('Llama'))) return readLlama(cfg, cfgPath, files);
    throw new Error(`${cfgPath}: model_type "${type}" is not supported (supported: llama, mistral, qwen2/qwen3 style, gpt2, gpt_neox, gemma2)`);
  } finally {
    files.close();
  }
}

function readLlama(cfg: Record<string, unknown>, path: string, f: WeightFiles): { config: LmConfig; weights: ModelWeights } {
  const dim = num(cfg, path, 'hidden_size'), hidden = num(cfg, path, 'intermediate_size'), nLayers = num(cfg, path, 'num_hidden_layers');
  const nHeads = num(cfg, path, 'num_attention_heads'), nKv = num(cfg, path, 'num_key_value_heads', nHeads);
  const vocab = num(cfg, path, 'vocab_size'), headDim = num(cfg, path, 'head_dim', dim / nHeads);
  const config: LmConfig = {
    family: 'llama', dim, hiddenDim: hidden, nLayers, nHeads, nKvHeads: nKv, headDim, vocabSize: vocab,
    maxSeqLen: num(cfg, path, 'max_position_embeddings', 2048), normEps: num(cfg, path, 'rms_norm_eps', 1e-6),
    rope: 'half', ropeTheta: num(cfg, path, 'rope_theta', 10000),
  };
  const p = f.has('model.embed_tokens.weight') ? 'model.' : '';
  const qDim = nHeads * headDim, kvDim = nKv * headDim;
  const bias = (name: string, n: number): Float32Array | undefined => f.has(name) ? f.get(name, [n]) : undefined;
  const layers: LayerWeights[] = Array.from({ length: nLayers }, (_, l) => {
    const L = `${p}layers.${l}.`;
    return {
      norm1: f.get(`${L}input_layernorm.weight`, [dim]),
      wq: f.get(`${L}self_attn.q_proj.weight`, [qDim, dim]), bq: bias(`${L}self_attn.q_proj.bias`, qDim),
      wk: f.get(`${L}self_attn.k_proj.weight`, [kvDim, dim]), bk: bias(`${L}self_attn.k_proj.bias`, kvDim),
      wv: f.get(`${L}self_attn.v_proj.weight`, [kvDim, dim]), bv: bias(`${L}self_attn.v_proj.bias`, kvDim),
      wo: f.get(`${L}self_attn.o_proj.weight`, [dim, qDim]),
      norm2: f.get(`${L}post_attention_layernorm.weight`, [dim]),
      w1: f.get(`${L}mlp.gate_proj.weight`, [hidden, dim]), w3: f.get(`${L}mlp.up_proj.weight`, [hidden, dim]),
      w2: f.get(`${L}mlp.down_proj.weight`, [dim, hidden]),
    };
  });
  const embed = f.get(`${p}embed_tokens.weight`, [vocab, dim]);
  const head = f.has('lm_head.weight') && cfg.tie_word_embeddings !== true ? f.get('lm_head.weight', [vocab, dim]) : embed;
  return { config, weights: { embed, layers, normF: f.get(`${p}norm.weight`, [dim]), head } };
}

function readGpt2(cfg: Record<string, unknown>, path: string, f: WeightFiles): { config: LmConfig; weights: ModelWeights } {
  const dim = num(cfg, path, 'n_embd'), nLayers = num(cfg, path, 'n_layer'), nHeads = num(cfg, path, 'n_head');
  const vocab = num(cfg, path, 'vocab_size'), ctx = num(cfg, path, 'n_positions'), hidden = num(cfg, path, 'n_inner', 4 * dim);
  const config: LmConfig = {
    family: 'gpt2', dim, hiddenDim: hidden, nLayers, nHeads, nKvHeads: nHeads, headDim: dim / nHeads, vocabSize: vocab,
    maxSeqLen: ctx, normEps: num(cfg, path, 'layer_norm_epsilon', 1e-5), rope: 'none', ropeTheta: 0,
  };
  const p = f.has('transformer.wte.weight') ? 'transformer.' : '';
  const layers: LayerWeights[] = Array.from({ length: nLayers }, (_, l) => {
    const L = `${p}h.${l}.`;
    const qkv = transpose(f.get(`${L}attn.c_attn.weight`, [dim, 3 * dim]), dim, 3 * dim);
    const bqkv = f.get(`${L}attn.c_attn.bias`, [3 * dim]);
    return {
      norm1: f.get(`${L}ln_1.weight`, [dim]), norm1Bias: f.get(`${L}ln_1.bias`, [dim]),
      wq: qkv.subarray(0, dim * dim), wk: qkv.subarray(dim * dim, 2 * dim * dim), wv: qkv.subarray(2 * dim * dim),
      bq: bqkv.subarray(0, dim), bk: bqkv.subarray(dim, 2 * dim), bv: bqkv.subarray(2 * dim),
      wo: transpose(f.get(`${L}attn.c_proj.weight`, [dim, dim]), dim, dim), bo: f.get(`${L}attn.c_proj.bias`, [dim]),
      norm2: f.get(`${L}ln_2.weight`, [dim]), norm2Bias: f.get(`${L}ln_2.bias`, [dim]),
      w1: transpose(f.get(`${L}mlp.c_fc.weight`, [dim, hidden]), dim, hidden), b1: f.get(`${L}mlp.c_fc.bias`, [hidden]),
      w2: transpose(f.get(`${L}mlp.c_proj.weight`, [hidden, dim]), hidden, dim), b2: f.get(`${L}mlp.c_proj.bias`, [dim]),
    };
  });
  const embed = f.get(`${p}wte.weight`, [vocab, dim]);
  return {
    config,
    weights: { embed, posEmbed: f.get(`${p}wpe.weight`, [ctx, dim]), layers, normF: f.get(`${p}ln_f.weight`, [dim]), normFBias: f.get(`${p}ln_f.bias`, [dim]), head: embed },
  };
}

/**
 * GPT-NeoX (Pythia): gpt_neox.layers.L.attention.query_key_value [3·dim, dim] holds, per head,
 * its q, k and v rows one after another (the output viewed as [heads, 3·headDim]); rotary on
 * the first rotary_pct·headDim dims of q and k (rotate-half pairs); LayerNorms with bias;
 * dense_h_to_4h → exact GELU → dense_4h_to_h; an untied embed_out head.
 */
function readNeox(cfg: Record<string, unknown>, path: string, f: WeightFiles): { config: LmConfig; weights: ModelWeights } {
  const dim = num(cfg, path, 'hidden_size'), nLayers = num(cfg, path, 'num_hidden_layers'), nHeads = num(cfg, path, 'num_attention_heads');
  const vocab = num(cfg, path, 'vocab_size'), hidden = num(cfg, path, 'intermediate_size', 4 * dim), hd = dim / nHeads;
  const pct = typeof cfg.rotary_pct === 'number' ? cfg.rotary_pct : (cfg.rope_parameters as { partial_rotary_factor?: number } | undefined)?.partial_rotary_factor ?? 0.25;
  const act = String(cfg.hidden_act ?? 'gelu');
  if (act !== 'gelu') throw new Error(`${path}: hidden_act "${act}"; saekit runs GPT-NeoX models with "gelu" (exact), as Pythia's are`);
  const config: LmConfig = {
    family: 'neox', dim, hiddenDim: hidden, nLayers, nHeads, nKvHeads: nHeads, headDim: hd, vocabSize: vocab,
    maxSeqLen: num(cfg, path, 'max_position_embeddings', 2048), normEps: num(cfg, path, 'layer_norm_eps', 1e-5),
    rope: 'half', ropeTheta: num(cfg, path, 'rotary_emb_base', typeof cfg.rope_theta === 'number' ? cfg.rope_theta : 10000),
    rotaryDims: Math.floor(hd * pct), act: 'gelu_exact', parallelResidual: cfg.use_parallel_residual !== false,
  };
  const p = f.has('gpt_neox.embed_in.weight') ? 'gpt_neox.' : '';
  const layers: LayerWeights[] = Array.from({ length: nLayers }, (_, l) => {
    const L = `${p}layers.${l}.`;
    const qkv = f.get(`${L}attention.query_key_value.weight`, [3 * dim, dim]), bqkv = f.get(`${L}attention.query_key_value.bias`, [3 * dim]);
    const wq = new Float32Array(dim * dim), wk = new Float32Array(dim * dim), wv = new Float32Array(dim * dim);
    const bq = new Float32Array(dim), bk = new Float32Array(dim), bv = new Float32Array(dim);
    for (let h = 0; h < nHeads; h++) {
      [[wq, bq], [wk, bk], [wv, bv]].forEach(([w, b], part) => {
        const src = (h * 3 + part) * hd;
        w!.set(qkv.subarray(src * dim, (src + hd) * dim), h * hd * dim);
        b!.set(bqkv.subarray(src, src + hd), h * hd);
      });
    }
    return {
      norm1: f.get(`${L}input_layernorm.weight`, [dim]), norm1Bias: f.get(`${L}input_layernorm.bias`, [dim]),
      wq, wk, wv, bq, bk, bv, wo: f.get(`${L}attention.dense.weight`, [dim, dim]), bo: f.get(`${L}attention.dense.bias`, [dim]),
      norm2: f.get(`${L}post_attention_layernorm.weight`, [dim]), norm2Bias: f.get(`${L}post_attention_layernorm.bias`, [dim]),
      w1: f.get(`${L}mlp.dense_h_to_4h.weight`, [hidden, dim]), b1: f.get(`${L}mlp.dense_h_to_4h.bias`, [hidden]),
      w2: f.get(`${L}mlp.dense_4h_to_h.weight`, [dim, hidden]), b2: f.get(`${L}mlp.dense_4h_to_h.bias`, [dim]),
    };
  });
  const embed = f.get(`${p}embed_in.weight`, [vocab, dim]);
  const head = cfg.tie_word_embeddings === true ? embed : f.get('embed_out.weight', [vocab, dim]);
  return { config, weights: { embed, layers, normF: f.get(`${p}final_layer_norm.weight`, [dim]), normFBias: f.get(`${p}final_layer_norm.bias`, [dim]), head } };
}

/**
 * Gemma-2: RMSNorms computing x/rms(x)·(1 + w), folded here into weights 1 + w; input, post-
 * attention, pre- and post-feedforward norms; GeGLU (gelu_pytorch_tanh(gate)·up); scores
 * scaled by query_pre_attn_scalar^−½ and capped by attn_logit_softcapping; sliding-window
 * attention on the layers layer_types names (else the even ones, as Gemma2Attention does);
 * the embedding times √hidden_size, rounded to the weights' float; logits capped by
 * final_logit_softcapping; tied head.
 */
function readGemma2(cfg: Record<string, unknown>, path: string, f: WeightFiles): { config: LmConfig; weights: ModelWeights } {
  const dim = num(cfg, path, 'hidden_size'), nLayers = num(cfg, path, 'num_hidden_layers'), nHeads = num(cfg, path, 'num_attention_heads');
  const nKv = num(cfg, path, 'num_key_value_heads', nHeads), hd = num(cfg, path, 'head_dim', 256), vocab = num(cfg, path, 'vocab_size');
  const hidden = num(cfg, path, 'intermediate_size'), window = num(cfg, path, 'sliding_window', 4096);
  const act = String(cfg.hidden_activation ?? cfg.hidden_act ?? 'gelu_pytorch_tanh');
  if (act !== 'gelu_pytorch_tanh') throw new Error(`${path}: hidden_activation "${act}"; saekit runs Gemma-2 with "gelu_pytorch_tanh"`);
  const types = Array.isArray(cfg.layer_types) ? cfg.layer_types.map(String) : null;
  const windows = Array.from({ length: nLayers }, (_, l) => (types ? types[l] === 'sliding_attention' : l % 2 === 0) ? window : 0);
  const cap = (key: string): number | undefined => typeof cfg[key] === 'number' && (cfg[key] as number) > 0 ? cfg[key] as number : undefined;
  const config: LmConfig = {
    family: 'gemma2', dim, hiddenDim: hidden, nLayers, nHeads, nKvHeads: nKv, headDim: hd, vocabSize: vocab,
    maxSeqLen: num(cfg, path, 'max_position_embeddings', 8192), normEps: num(cfg, path, 'rms_norm_eps', 1e-6),
    rope: 'half', ropeTheta: num(cfg, path, 'rope_theta', 10000), act: 'geglu',
    attnScale: 1 / Math.sqrt(num(cfg, path, 'query_pre_attn_scalar', hd)), attnSoftcap: cap('attn_logit_softcapping'), finalSoftcap: cap('final_logit_softcapping'),
    windows, embedScale: Math.fround(Math.sqrt(dim)),
  };
  const p = f.has('model.embed_tokens.weight') ? 'model.' : '';
  const plusOne = (name: string): Float32Array => f.get(name, [dim]).map((v) => 1 + v);
  const qDim = nHeads * hd, kvDim = nKv * hd;
  const layers: LayerWeights[] = Array.from({ length: nLayers }, (_, l) => {
    const L = `${p}layers.${l}.`;
    return {
      norm1: plusOne(`${L}input_layernorm.weight`), postAttnNorm: plusOne(`${L}post_attention_layernorm.weight`),
      norm2: plusOne(`${L}pre_feedforward_layernorm.weight`), postMlpNorm: plusOne(`${L}post_feedforward_layernorm.weight`),
      wq: f.get(`${L}self_attn.q_proj.weight`, [qDim, dim]), wk: f.get(`${L}self_attn.k_proj.weight`, [kvDim, dim]),
      wv: f.get(`${L}self_attn.v_proj.weight`, [kvDim, dim]), wo: f.get(`${L}self_attn.o_proj.weight`, [dim, qDim]),
      w1: f.get(`${L}mlp.gate_proj.weight`, [hidden, dim]), w3: f.get(`${L}mlp.up_proj.weight`, [hidden, dim]),
      w2: f.get(`${L}mlp.down_proj.weight`, [dim, hidden]),
    };
  });
  const embed = f.get(`${p}embed_tokens.weight`, [vocab, dim]);
  return { config, weights: { embed, layers, normF: plusOne(`${p}norm.weight`), head: embed } };
}
