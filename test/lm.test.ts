// Real model checks: stories260K (llama2.c format) reproduces its golden greedy output byte for
// byte, the batched forward equals the incremental (KV-cache) one, the Hugging Face llama layout
// of the same weights gives the same logits, and bad checkpoints/tokenizers/sites are clear errors.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { generate } from '../src/lm/generate.js';
import { readHfModel } from '../src/lm/hf.js';
import { readLlama2c } from '../src/lm/llama2c.js';
import { loadLm } from '../src/lm/load.js';
import { Llama2cTokenizer } from '../src/lm/tokenizer.js';
import { KvCache, Transformer } from '../src/lm/transformer.js';
import { openLmSource } from '../src/data/lm.js';
import { expectClose, sharedPath, writeHfLlama } from './helpers.js';

const dir = sharedPath('models/stories260K');
const be = getBackend();
const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-lm-'));

/** llama2.c's own encoder loop, transcribed: rescan for the best-scoring pair until none merges. */
function naiveEncode(tok: Llama2cTokenizer, text: string): number[] {
  const str = (id: number): string => new TextDecoder().decode(tok.pieces[id]!);
  const lookup = new Map<string, number>();
  for (let i = tok.vocabSize - 1; i >= 0; i--) lookup.set(str(i), i);
  const ids: number[] = [];
  for (const ch of ' ' + text) {
    const id = lookup.get(ch);
    if (id !== undefined) ids.push(id);
    else for (const b of new TextEncoder().encode(ch)) ids.push(b + 3);
  }
  for (;;) {
    let best = -Infinity, at = -1, bestId = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const id = lookup.get(str(ids[i]!) + str(ids[i + 1]!));
      if (id !== undefined && tok.scores[id]! > best) { best = tok.scores[id]!; at = i; bestId = id; }
    }
    if (at < 0) return ids;
    ids.splice(at, 2, bestId);
  }
}

describe.skipIf(!dir)('stories260K (llama2.c checkpoint)', () => {
  const bin = join(dir ?? '', 'stories260K.bin'), tokPath = join(dir ?? '', 'tok512.bin');

  it('reproduces the golden greedy 256-step output byte for byte, and its tokens are the BPE encoding of that text', async () => {
    const { model, tokenizer } = await loadLm(bin, be);
    const gold = readFileSync(join(dir!, 'greedy-256-steps.txt'), 'utf8');
    const { text, ids } = generate(model, tokenizer, '', { steps: 256 });
    // llama2.c's run prints a newline after the last token
    expect(text + '\n').toBe(gold);
    expect(ids.length).toBe(257);
    expect([tokenizer.bos, ...tokenizer.encode(text)]).toEqual(ids);
  });

  it('the heap BPE encoder equals llama2.c\'s rescanning loop on real text, and decode inverts it', () => {
    const tok = new Llama2cTokenizer(tokPath, 512);
    const shakespeare = sharedPath('corpus/tinyshakespeare.txt');
    const samples = ['Once upon a time, there was a little girl named Lily.', 'naïve café — 東京 🙂', 'a  b\n\nc\t d'];
    if (shakespeare) samples.push(readFileSync(shakespeare, 'utf8').slice(0, 3000));
    for (const s of samples) {
      const ids = tok.encode(s);
      expect(ids).toEqual(naiveEncode(tok, s));
      expect(tok.decode(ids)).toBe(s);
    }
    expect(tok.encode('')).toEqual([]);
  });

  it('batched forward logits equal the incremental KV-cache forward at every position', () => {
    const { config, weights } = readLlama2c(bin);
    const m = new Transformer(config, weights, be, bin);
    const tok = new Llama2cTokenizer(tokPath, config.vocabSize);
    const a = tok.encode('Tom had a red ball. He threw it to his dog, and the dog ran fast.').slice(0, 24);
    const b = tok.encode('One day, a little bird sat on a tree and sang a happy song for all.').slice(0, 24);
    const T = 25, V = config.vocabSize;
    const tokens = Int32Array.from([1, ...a, 1, ...b]);
    const batched = m.logits(m.forward(tokens, 2)!, 0, 2 * T);
    const cache = new KvCache(config, 2, T);
    const inc = new Float32Array(2 * T * V);
    // first 5 positions as one chunk, then one token at a time
    const h0 = m.forward(Int32Array.from([...tokens.subarray(0, 5), ...tokens.subarray(T, T + 5)]), 2, { cache })!;
    for (let s = 0; s < 2; s++) inc.set(m.logits(h0, s * 5, 5), s * T * V);
    for (let p = 5; p < T; p++) {
      const h = m.forward(Int32Array.of(tokens[p]!, tokens[T + p]!), 2, { cache })!;
      for (let s = 0; s < 2; s++) inc.set(m.logits(h, s, 1), (s * T + p) * V);
    }
    expectClose(inc, batched, { rtol: 1e-4, atol: 1e-4, label: 'logits' });
  });

  it('the Hugging Face llama layout of the same weights (rotate-half q/k rows) gives the same logits', () => {
    const { config, weights } = readLlama2c(bin);
    const out = tmp();
    writeHfLlama(config, weights, out);
    const hf = readHfModel(out);
    expect(hf.config.rope).toBe('half');
    const tokens = Int32Array.from([1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315]);
    const ref = new Transformer(config, weights, be, bin), got = new Transformer(hf.config, hf.weights, be, out);
    expectClose(got.logits(got.forward(tokens, 1)!, 0, tokens.length), ref.logits(ref.forward(tokens, 1)!, 0, tokens.length), { rtol: 1e-4, atol: 1e-4, label: 'HF-layout logits' });
  });

  it('reads out every site, and an overwrite at a site changes what follows', () => {
    const { config, weights } = readLlama2c(bin);
    const m = new Transformer(config, weights, be, bin);
    const tokens = Int32Array.from([1, 403, 407, 261, 378]);
    const seen: Record<string, Float32Array> = {};
    m.forward(tokens, 1, { hook: (l, s, x) => { if (l === 1) seen[s] = x.slice(); } });
    const R = tokens.length * config.dim;
    // resid_mid = resid_pre + attn_out; resid_post = resid_mid + mlp_out
    expectClose(seen.resid_mid!, seen.resid_pre!.map((v, i) => v + seen.attn_out![i]!), { label: 'resid_mid' });
    expectClose(seen.resid_post!, seen.resid_mid!.map((v, i) => v + seen.mlp_out![i]!), { label: 'resid_post' });
    expect(seen.mlp_in!.length).toBe(R);
    const clean = m.logits(m.forward(tokens, 1)!, 0, tokens.length);
    const ablated = m.logits(m.forward(tokens, 1, { hook: (l, s, x) => { if (l === 1 && s === 'mlp_out') x.fill(0); } })!, 0, tokens.length);
    let diff = 0;
    for (let i = 0; i < clean.length; i++) diff = Math.max(diff, Math.abs(clean[i]! - ablated[i]!));
    expect(diff).toBeGreaterThan(0.01);
  });

  it('bad checkpoints, tokenizers, layers and sites are clear errors', async () => {
    const t = tmp();
    const bytes = readFileSync(bin);
    writeFileSync(join(t, 'truncated.bin'), bytes.subarray(0, 100_000));
    copyFileSync(tokPath, join(t, 'tok512.bin'));
    await expect(loadLm(join(t, 'truncated.bin'), be)).rejects.toThrow(/truncated\.bin: 100000 bytes, but a llama2.c checkpoint .* has 1056540 \(truncated\?\)/);
    writeFileSync(join(t, 'foreign.bin'), 'this is not a checkpoint, it is text; '.repeat(10));
    await expect(loadLm(join(t, 'foreign.bin'), be)).rejects.toThrow(/foreign\.bin: not a llama2.c checkpoint/);
    // a NaN in layer 1's wq: header 7 int32, embed [512, 64], layer norms [5, 64], then wq [5, 64, 64]
    const poisoned = Buffer.from(bytes);
    poisoned.writeFloatLE(NaN, 28 + 4 * (512 * 64 + 5 * 64 + 64 * 64 + 7));
    writeFileSync(join(t, 'nan.bin'), poisoned);
    await expect(loadLm(join(t, 'nan.bin'), be)).rejects.toThrow(/nan\.bin: weight layers\.1\.wq holds NaN at entry 7/);
    expect(() => new Llama2cTokenizer(tokPath, 1000)).toThrow(/tok512\.bin: ends after 512 of the model's 1000 tokens/);
    expect(() => new Llama2cTokenizer(tokPath, 256)).toThrow(/tok512\.bin: .* bytes remain after 256 tokens/);
    const corpus = join(t, 'c.txt');
    writeFileSync(corpus, 'Once upon a time there was a cat.\n\nThe cat sat on a mat.');
    await expect(openLmSource(`lm:model=${bin},corpus=${corpus},layer=7,site=resid_post,ctx=8`, be)).rejects.toThrow(/layer 7 does not exist: .* has layers 0\.\.4/);
    await expect(openLmSource(`lm:model=${bin},corpus=${corpus},layer=1,site=resid,ctx=8`, be)).rejects.toThrow(/site: Invalid option: expected one of "resid_pre"/);
    writeFileSync(join(t, 'empty.txt'), '\n\n  \n');
    await expect(openLmSource(`lm:model=${bin},corpus=${join(t, 'empty.txt')},layer=1,site=resid_post,ctx=8`, be)).rejects.toThrow(/empty\.txt: no text/);
    await expect(openLmSource(`lm:model=${bin},corpus=${corpus},layer=1,site=resid_post,ctx=1024`, be)).rejects.toThrow(/fewer than one context|longer than .* context of 512/);
  });
});
