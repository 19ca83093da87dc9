// From text to activations: the GPT-2 tokenizer against known ids, corpora in three formats,
// context packing, the live lm: source (state and restore), resumable extraction, downstream
// CE with a perfect and a zero SAE, and a GPT-2-layout model against a float64 transcription.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { extractActivations } from '../src/data/extract.js';
import { LmActivations, openLmSource } from '../src/data/lm.js';
import { ShardSource } from '../src/data/shards.js';
import { downstreamEval } from '../src/eval/downstream.js';
import { readDocuments } from '../src/io/corpus.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { buildContexts } from '../src/lm/contexts.js';
import { readHfModel } from '../src/lm/hf.js';
import { loadLm } from '../src/lm/load.js';
import { HfTokenizer, Llama2cTokenizer, type Tokenizer } from '../src/lm/tokenizer.js';
import { KvCache, Transformer } from '../src/lm/transformer.js';
import type { Sae } from '../src/sae/common.js';
import { Rng } from '../src/util/rng.js';
import { expectClose, sharedPath } from './helpers.js';

const be = getBackend();
const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-lmdata-'));
const gpt2Dir = sharedPath('tokenizers/gpt2');
const stories = sharedPath('models/stories260K/stories260K.bin');
const shakespeare = sharedPath('corpus/tinyshakespeare.txt');

/** The documents, with their pieces joined (each piece must continue the one before). */
async function collect(path: string, o = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const d of readDocuments(path, o)) {
    if (d.first) out.push(d.text);
    else out[out.length - 1] += d.text;
  }
  return out;
}

/** A toy tokenizer: one id per character code (BOS = 0), for packing tests. */
const charTok: Tokenizer = {
  source: 'chars', vocabSize: 256, bos: 0,
  encode: (s) => [...s].map((c) => c.charCodeAt(0)),
  decode: (ids) => String.fromCharCode(...Array.from(ids).filter((i) => i !== 0)),
  piece: (id) => String.fromCharCode(id),
};

describe.skipIf(!gpt2Dir)('GPT-2 tokenizer (vocab.json + merges.txt via @huggingface/tokenizers)', () => {
  it('encodes real text to the known GPT-2 ids and decodes back', () => {
    const tok = new HfTokenizer(gpt2Dir!);
    expect(tok.vocabSize).toBe(50257);
    expect(tok.bos).toBe(50256);
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode('Hello, world!')).toEqual([15496, 11, 995, 0]);
    expect(tok.encode('The quick brown fox jumps over the lazy dog.')).toEqual([464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]);
    expect(tok.encode('a<|endoftext|>b')).toEqual([64, 50256, 65]);
    const s = 'First Citizen:\nBefore we proceed any further, hear me speak.';
    expect(tok.decode(tok.encode(s))).toBe(s);
  });

  it('reads the same tokenizer from a tokenizer.json, and refuses a model whose vocabulary is smaller', async () => {
    const t = tmp();
    // GPT-2's tokenizer.json, as Hugging Face ships it, from the vocab and merges
    const vocab = JSON.parse(readFileSync(join(gpt2Dir!, 'vocab.json'), 'utf8')) as Record<string, number>;
    const merges = readFileSync(join(gpt2Dir!, 'merges.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#version'));
    const bl = { add_prefix_space: false, trim_offsets: true, use_regex: true };
    writeFileSync(join(t, 'tokenizer.json'), JSON.stringify({
      version: '1.0', added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
      normalizer: null, pre_tokenizer: { type: 'ByteLevel', ...bl }, post_processor: { type: 'ByteLevel', ...bl }, decoder: { type: 'ByteLevel', ...bl },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
    }));
    writeFileSync(join(t, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|endoftext|>' }));
    const tok = new HfTokenizer(t);
    expect(tok.encode('The quick brown fox jumps over the lazy dog.')).toEqual([464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13]);
    expect(tok.bos).toBe(50256);
    tinyGpt2(t); // a 50-token model beside a 50,257-token tokenizer
    await expect(loadLm(t, be)).rejects.toThrow(/tokenizer\.json: the tokenizer has 50257 tokens but the model .* only 50 \(a tokenizer for another model\?\)/);
    writeFileSync(join(t, 'tokenizer.json'), '{"model": 3');
    expect(() => new HfTokenizer(t)).toThrow(/tokenizer\.json: not valid JSON/);
  });

  it.skipIf(!shakespeare)('tokenizes tinyshakespeare to 338,025 tokens (nanoGPT: 301,966 train + 36,059 val)', () => {
    const tok = new HfTokenizer(gpt2Dir!);
    expect(tok.encode(readFileSync(shakespeare!, 'utf8')).length).toBe(338025);
  });
});

describe('corpora and context packing', () => {
  it('reads txt (separator), jsonl (field) and parquet (column) documents in order, with clear errors', async () => {
    const t = tmp();
    writeFileSync(join(t, 'a.txt'), 'first doc\n\nsecond doc\n\n\n\nthird');
    expect(await collect(join(t, 'a.txt'))).toEqual(['first doc', 'second doc', 'third']);
    expect(await collect(join(t, 'a.txt'), { separator: '' })).toHaveLength(1);
    writeFileSync(join(t, 'b.jsonl'), '{"text":"one"}\n\n{"text":"two","id":2}\n');
    expect(await collect(join(t, 'b.jsonl'))).toEqual(['one', 'two']);
    writeFileSync(join(t, 'bad.jsonl'), '{"text":"one"}\n{"body":"two"}\n');
    await expect(collect(join(t, 'bad.jsonl'))).rejects.toThrow(/bad\.jsonl:2: no string field "text"/);
    const texts = Array.from({ length: 5000 }, (_, i) => `row ${i}`);
    writeFileSync(join(t, 'c.parquet'), Buffer.from(parquetWriteBuffer({ columnData: [{ name: 'id', data: texts.map((_, i) => i), type: 'INT32' }, { name: 'content', data: texts, type: 'STRING' }] })));
    expect(await collect(join(t, 'c.parquet'), { field: 'content' })).toEqual(texts);
    await expect(collect(join(t, 'c.parquet'))).rejects.toThrow(/c\.parquet: no column "text" \(columns: id, content/);
    await expect(collect(join(t, 'missing.txt'))).rejects.toThrow(/missing\.txt: no such file/);
  });

  it('streams a long document in pieces cut at single spaces: the same documents, and the same tokens piece by piece', async () => {
    const t = tmp();
    const rng = new Rng(3);
    const words = ['the', 'dog', 'ran', 'happily', 'Tom', 'said,', '"hello"', 'ÿé', '😀', 'x\ny', 'a  b'];
    const doc = (n: number): string => Array.from({ length: n }, () => words[rng.int(words.length)]).join(' ');
    const docs = [doc(3000), doc(10), doc(5000)];
    writeFileSync(join(t, 'long.txt'), docs.join('\n\n'));
    for (const pieceChars of [100, 997, 1 << 20]) {
      expect(await collect(join(t, 'long.txt'), { pieceChars })).toEqual(docs);
      expect(await collect(join(t, 'long.txt'), { pieceChars, separator: '' })).toEqual([docs.join('\n\n')]);
    }
    let pieces = 0;
    for await (const p of readDocuments(join(t, 'long.txt'), { pieceChars: 100 })) {
      expect(p.text.length).toBeLessThanOrEqual(100);
      pieces++;
    }
    expect(pieces).toBeGreaterThan(250);
    const toks: Tokenizer[] = [];
    if (stories) toks.push(new Llama2cTokenizer(join(dirname(stories), 'tok512.bin'), 512));
    if (gpt2Dir) toks.push(new HfTokenizer(gpt2Dir));
    for (const tok of toks) {
      const whole = tok.encode(docs[0]!);
      const parts: number[] = [];
      for await (const p of readDocuments(join(t, 'long.txt'), { pieceChars: 100 })) {
        if (p.first && parts.length > 0) break;
        parts.push(...tok.encode(p.text, !p.first));
      }
      expect(parts).toEqual(whole);
    }
  });

  it('packs a 40 MB corpus with no separator in bounded memory, stopping at the rows asked for; warns on a binary file', async () => {
    const t = tmp();
    const big = join(t, 'big.txt');
    writeFileSync(big, 'word '.repeat(8 << 20));
    const before = process.memoryUsage().rss;
    const c = await buildContexts(big, charTok, { ctx: 64, rows: 5000 });
    expect(c.count * 64).toBeGreaterThanOrEqual(5000);
    expect(c.count).toBeLessThan(100);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 << 20);
    writeFileSync(join(t, 'bin.txt'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) % 256)));
    const said: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => { said.push(String(s)); return true; }) as typeof process.stderr.write;
    try {
      await buildContexts(join(t, 'bin.txt'), charTok, { ctx: 8 });
    } finally {
      process.stderr.write = write;
    }
    expect(said.join('')).toMatch(/bin\.txt: \d+\.\d% of its characters are not valid UTF-8/);
  });

  it('packs documents into BOS-led contexts with BOS between documents, and takes the last contexts for held-out data', async () => {
    const t = tmp();
    writeFileSync(join(t, 'd.txt'), 'abcdef\n\nghij\n\nklmnopqrs');
    const c = await buildContexts(join(t, 'd.txt'), charTok, { ctx: 5 });
    const ctxs = Array.from({ length: c.count }, (_, i) => charTok.decode(c.tokens.subarray(i * 5, (i + 1) * 5)));
    // stream abcdef·ghij·klmnopqrs → ·abcd ·ef·g ·hij· ·klmn ·opqr (the tail s is dropped)
    expect(Array.from(c.tokens.subarray(0, 10))).toEqual([0, 97, 98, 99, 100, 0, 101, 102, 0, 103]);
    for (let i = 0; i < c.count; i++) expect(c.tokens[i * 5]).toBe(0);
    expect(ctxs.join('')).toBe('abcdefghijklmnopqr');
    expect(c.documents).toBe(3);
    const last = await buildContexts(join(t, 'd.txt'), charTok, { ctx: 5, rows: 5, excludeBos: true, fromEnd: true });
    expect(last.count).toBe(2);
    expect(Array.from(last.tokens)).toEqual(Array.from(c.tokens.subarray((c.count - 2) * 5)));
  });
});

describe.skipIf(!stories || !shakespeare)('live activations from stories260K', () => {
  const spec = `lm:model=${stories},corpus=${shakespeare},layer=1,site=resid_post,ctx=32,batch=3,tokens=500`;

  it('streams rows with token ids and positions, skipping BOS; restore() resumes mid-batch exactly', async () => {
    const a = await openLmSource(spec, be);
    expect(a.d).toBe(64);
    expect(a.length).toBe(500);
    const x = new Float32Array(500 * 64), tok = new Int32Array(500), pos = new Int32Array(500);
    expect(a.readWithTokens(x, 500, tok, pos)).toBe(500);
    expect(a.readWithTokens(x, 10)).toBe(0);
    expect(tok.includes(1)).toBe(false);
    expect(Array.from(pos.subarray(0, 3))).toEqual([1, 2, 3]);
    expect(Math.max(...pos)).toBe(31);
    // the rows equal the model's own resid_post for the first context
    const first = a.contexts.tokens.subarray(0, 32);
    let want: Float32Array | null = null;
    a.model.forward(first, 1, { hook: (l, s, h) => { if (l === 1 && s === 'resid_post') want = h.slice(64, 32 * 64); } });
    expectClose(x.subarray(0, 31 * 64), want!, { rtol: 1e-4, atol: 1e-5, label: 'resid_post rows' });
    // stop at row 137 (inside the second batch of 3 contexts), save, reopen, restore
    const b = await openLmSource(spec, be);
    const y = new Float32Array(500 * 64);
    b.read(y, 137);
    const st = JSON.parse(JSON.stringify(b.state()));
    const c = await openLmSource(spec, be);
    c.restore(st);
    expect(c.read(y.subarray(137 * 64), 363)).toBe(363);
    expect(Array.from(y)).toEqual(Array.from(x));
  });

  it('extract writes shards with tokens and positions; a run killed after its second shard resumes to identical files', async () => {
    const whole = tmp(), killed = tmp();
    const origin = { test: 1 };
    const m = extractActivations(await openLmSource(spec, be), { out: whole, origin, shardTokens: 128 });
    expect(m.total_tokens).toBe(500);
    expect(m.shards.map((s) => s.tokens)).toEqual([128, 128, 128, 116]);
    const src = await openLmSource(spec, be);
    let calls = 0;
    const orig = src.readWithTokens.bind(src);
    src.readWithTokens = (...args: Parameters<LmActivations['readWithTokens']>) => {
      if (++calls === 3) throw new Error('killed');
      return orig(...args);
    };
    expect(() => extractActivations(src, { out: killed, origin, shardTokens: 128 })).toThrow('killed');
    expect(readdirSync(killed).sort()).toEqual(['extract-state.json', 'shard-00000.safetensors', 'shard-00001.safetensors']);
    expect(() => extractActivations(src, { out: killed, origin, shardTokens: 128 })).toThrow(/already holds an extraction; pass --resume/);
    expect(() => extractActivations(src, { out: killed, origin: { test: 2 }, shardTokens: 128, resume: true })).toThrow(/used other settings/);
    extractActivations(await openLmSource(spec, be), { out: killed, origin, shardTokens: 128, resume: true });
    for (const f of readdirSync(whole)) expect(readFileSync(join(killed, f)).equals(readFileSync(join(whole, f))), f).toBe(true);
    expect(readdirSync(killed)).not.toContain('extract-state.json');
    // resuming a finished extraction returns it (nothing redone) and drops a stale state file
    writeFileSync(join(killed, 'extract-state.json'), '{}');
    expect(extractActivations(src, { out: killed, origin, shardTokens: 128, resume: true }).total_tokens).toBe(500);
    expect(readdirSync(killed)).not.toContain('extract-state.json');
    const s = new ShardSource(whole);
    const row = new Float32Array(64);
    s.read(row, 1);
    const direct = new Float32Array(64);
    (await openLmSource(spec, be)).read(direct, 1);
    expect(Array.from(row)).toEqual(Array.from(direct));
  });

  it('transcoder data: mlp_in rows with their mlp_out targets, live and extracted', async () => {
    const tspec = `lm:model=${stories},corpus=${shakespeare},layer=1,site=mlp_in,targetSite=mlp_out,ctx=32,batch=3,tokens=200`;
    const a = await openLmSource(tspec, be);
    expect(a.dOut).toBe(64);
    const x = new Float32Array(200 * 64), y = new Float32Array(200 * 64);
    expect(a.read(x, 200, y)).toBe(200);
    const first = a.contexts.tokens.subarray(0, 32);
    const want: Record<string, Float32Array> = {};
    a.model.forward(first, 1, { hook: (l, s, h) => { if (l === 1) want[s] = h.slice(64, 32 * 64); } });
    expectClose(x.subarray(0, 31 * 64), want.mlp_in!, { rtol: 1e-4, atol: 1e-5, label: 'mlp_in rows' });
    expectClose(y.subarray(0, 31 * 64), want.mlp_out!, { rtol: 1e-4, atol: 1e-5, label: 'mlp_out targets' });
    const out = tmp();
    const m = extractActivations(await openLmSource(tspec, be), { out, origin: {}, shardTokens: 128 });
    expect(m.d_out).toBe(64);
    const s = new ShardSource(out);
    const sx = new Float32Array(200 * 64), sy = new Float32Array(200 * 64);
    expect(s.read(sx, 200, sy)).toBe(200);
    expect(Array.from(sy)).toEqual(Array.from(y));
    expect(Array.from(sx)).toEqual(Array.from(x));
  });

  it('downstream CE: a perfect SAE recovers 100% with zero KL; zero ablation costs CE', async () => {
    const lm = await openLmSource(spec, be);
    const d = 64, n = 128;
    const W = new Float32Array(n * d);
    for (let j = 0; j < d; j++) { W[j * d + j] = 1; W[(d + j) * d + j] = -1; }
    const perfect: Sae = { cfg: { format: 'saekit-sae', arch: 'topk', d, n, k: d, multiTopK: false, data: '' }, params: { W_enc: W, b_enc: new Float32Array(n), W_dec: W, b_dec: new Float32Array(d) } };
    const r = downstreamEval(be, perfect, lm, 6);
    expect(r.predictions).toBe(6 * 31);
    expect(r.ce_zero).toBeGreaterThan(r.ce_clean + 0.5);
    expect(r.ce_spliced).toBeCloseTo(r.ce_clean, 4);
    expect(r.kl_spliced).toBeLessThan(1e-6);
    expect(r.ce_recovered).toBeCloseTo(1, 3);
    expect(r.site_fvu).toBeLessThan(1e-8);
    // an SAE that always outputs b_dec = 0 is the zero ablation
    const zero: Sae = { ...perfect, params: { ...perfect.params, W_dec: new Float32Array(n * d) } };
    const z = downstreamEval(be, zero, lm, 6);
    expect(z.ce_spliced).toBeCloseTo(z.ce_zero, 5);
    expect(z.ce_recovered).toBeCloseTo(0, 4);
  });
});

/** A random GPT-2 in Hugging Face's layout (Conv1D weights [in, out]) and a float64 transcription of its forward. */
function tinyGpt2(dir: string): (tokens: number[]) => Float64Array {
  const d = 16, L = 2, H = 4, V = 50, P = 32, F = 4 * d;
  const rng = new Rng(7);
  const rand = (n: number, s = 0.3): Float32Array => Float32Array.from({ length: n }, () => s * (2 * rng.uniform() - 1));
  const w: Record<string, Float32Array> = { 'transformer.wte.weight': rand(V * d), 'transformer.wpe.weight': rand(P * d), 'transformer.ln_f.weight': rand(d, 1).map((v) => 1 + v), 'transformer.ln_f.bias': rand(d) };
  const shapes: Record<string, number[]> = { 'transformer.wte.weight': [V, d], 'transformer.wpe.weight': [P, d], 'transformer.ln_f.weight': [d], 'transformer.ln_f.bias': [d] };
  const add = (name: string, shape: number[], data: Float32Array): void => { w[name] = data; shapes[name] = shape; };
  for (let l = 0; l < L; l++) {
    const p = `transformer.h.${l}.`;
    add(`${p}ln_1.weight`, [d], rand(d).map((v) => 1 + v)); add(`${p}ln_1.bias`, [d], rand(d));
    add(`${p}attn.c_attn.weight`, [d, 3 * d], rand(d * 3 * d)); add(`${p}attn.c_attn.bias`, [3 * d], rand(3 * d));
    add(`${p}attn.c_proj.weight`, [d, d], rand(d * d)); add(`${p}attn.c_proj.bias`, [d], rand(d));
    add(`${p}ln_2.weight`, [d], rand(d).map((v) => 1 + v)); add(`${p}ln_2.bias`, [d], rand(d));
    add(`${p}mlp.c_fc.weight`, [d, F], rand(d * F)); add(`${p}mlp.c_fc.bias`, [F], rand(F));
    add(`${p}mlp.c_proj.weight`, [F, d], rand(F * d)); add(`${p}mlp.c_proj.bias`, [d], rand(d));
  }
  writeSafetensors(join(dir, 'model.safetensors'), Object.fromEntries(Object.keys(w).map((k) => [k, { dtype: 'F32' as const, shape: shapes[k]!, data: w[k]! }])));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_embd: d, n_layer: L, n_head: H, vocab_size: V, n_positions: P, layer_norm_epsilon: 1e-5 }));
  // x @ W (+ b) with W [in, out]
  const mm = (x: Float64Array[], W: Float32Array, b: Float32Array, out: number): Float64Array[] => x.map((row) => {
    const y = Float64Array.from(b);
    for (let i = 0; i < row.length; i++) for (let o = 0; o < out; o++) y[o]! += row[i]! * W[i * out + o]!;
    return y;
  });
  const ln = (x: Float64Array[], g: Float32Array, b: Float32Array): Float64Array[] => x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / d;
    const v = row.reduce((a, t) => a + (t - mean) ** 2, 0) / d;
    return row.map((t, j) => ((t - mean) / Math.sqrt(v + 1e-5)) * g[j]! + b[j]!);
  });
  return (tokens) => {
    const T = tokens.length, hd = d / H;
    let x = tokens.map((t, p) => Float64Array.from({ length: d }, (_, j) => w['transformer.wte.weight']![t * d + j]! + w['transformer.wpe.weight']![p * d + j]!));
    for (let l = 0; l < L; l++) {
      const p = `transformer.h.${l}.`;
      const qkv = mm(ln(x, w[`${p}ln_1.weight`]!, w[`${p}ln_1.bias`]!), w[`${p}attn.c_attn.weight`]!, w[`${p}attn.c_attn.bias`]!, 3 * d);
      const att = x.map(() => new Float64Array(d));
      for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
        const s = Array.from({ length: t + 1 }, (_, u) => { let a = 0; for (let j = 0; j < hd; j++) a += qkv[t]![h * hd + j]! * qkv[u]![d + h * hd + j]!; return a / Math.sqrt(hd); });
        const m = Math.max(...s), e = s.map((v) => Math.exp(v - m)), z = e.reduce((a, v) => a + v, 0);
        for (let u = 0; u <= t; u++) for (let j = 0; j < hd; j++) att[t]![h * hd + j]! += (e[u]! / z) * qkv[u]![2 * d + h * hd + j]!;
      }
      const a = mm(att, w[`${p}attn.c_proj.weight`]!, w[`${p}attn.c_proj.bias`]!, d);
      x = x.map((row, t) => row.map((v, j) => v + a[t]![j]!));
      const f = mm(ln(x, w[`${p}ln_2.weight`]!, w[`${p}ln_2.bias`]!), w[`${p}mlp.c_fc.weight`]!, w[`${p}mlp.c_fc.bias`]!, F)
        .map((row) => row.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))));
      const o = mm(f, w[`${p}mlp.c_proj.weight`]!, w[`${p}mlp.c_proj.bias`]!, d);
      x = x.map((row, t) => row.map((v, j) => v + o[t]![j]!));
    }
    const xf = ln(x, w['transformer.ln_f.weight']!, w['transformer.ln_f.bias']!);
    const out = new Float64Array(T * V);
    xf.forEach((row, t) => { for (let v = 0; v < V; v++) { let s = 0; for (let j = 0; j < d; j++) s += row[j]! * w['transformer.wte.weight']![v * d + j]!; out[t * V + v] = s; } });
    return out;
  };
}

describe('GPT-2 (Hugging Face layout)', () => {
  it('logits equal a float64 transcription of GPT-2\'s forward, batched and through the KV cache', () => {
    const dir = tmp();
    const reference = tinyGpt2(dir);
    const { config, weights } = readHfModel(dir);
    const m = new Transformer(config, weights, be, dir);
    const tokens = [3, 17, 42, 8, 8, 0, 49, 21, 5, 30];
    const want = reference(tokens);
    expectClose(m.logits(m.forward(Int32Array.from(tokens), 1)!, 0, tokens.length), want, { rtol: 1e-4, atol: 1e-4, label: 'batched GPT-2 logits' });
    const cache = new KvCache(config, 1, tokens.length);
    const inc = new Float32Array(want.length);
    tokens.forEach((t, p) => inc.set(m.logits(m.forward(Int32Array.of(t), 1, { cache })!, 0, 1), p * config.vocabSize));
    expectClose(inc, want, { rtol: 1e-4, atol: 1e-4, label: 'incremental GPT-2 logits' });
  });
});
