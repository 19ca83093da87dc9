/**
 * Tokenizers behind one interface: the llama2.c binary format (sentencepiece-style BPE over
 * scores, byte fallback), and Hugging Face tokenizers (tokenizer.json, or GPT-2's
 * vocab.json + merges.txt) through @huggingface/tokenizers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import { readJsonFile, readJsonObject } from '../io/json.js';

export interface Tokenizer {
  /** where it was read from, for messages */
  readonly source: string;
  readonly vocabSize: number;
  /** the token every context starts with (and that separates documents) */
  readonly bos: number;
  /** ids of text tokens only, no BOS; `continues`: the text continues a document already
   *  encoded (no document-start prefix) */
  encode(text: string, continues?: boolean): number[];
  decode(ids: ArrayLike<number>): string;
  /** one token's text as it would print after `prev` (for streaming and viewers) */
  piece(id: number, prev?: number): string;
}

/**
 * llama2.c's tokenizer (tok*.bin): int32 max_token_length, then per id: float32 score,
 * int32 byte length, bytes. Encoding prepends a space, looks each UTF-8 character up
 * (falling back to <0xHH> byte tokens, id = byte + 3), then merges the adjacent pair whose
 * concatenation has the highest score, leftmost first on ties, until none merges.
 */
export class Llama2cTokenizer implements Tokenizer {
  readonly source: string;
  readonly vocabSize: number;
  readonly bos = 1;
  readonly eos = 2;
  readonly pieces: Uint8Array[];
  readonly scores: Float32Array;
  #lookup = new Map<string, number>();
  #text: string[];

  constructor(path: string, vocabSize: number) {
    this.source = path;
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (err) {
      throw new Error(`${path}: cannot read the tokenizer (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    this.vocabSize = vocabSize;
    this.pieces = [];
    this.scores = new Float32Array(vocabSize);
    let off = 4;
    for (let i = 0; i < vocabSize; i++) {
      if (off + 8 > buf.length) throw new Error(`${path}: ends after ${i} of the model's ${vocabSize} tokens (a tokenizer for another vocabulary?)`);
      this.scores[i] = buf.readFloatLE(off);
      const len = buf.readInt32LE(off + 4);
      off += 8;
      if (len < 0 || off + len > buf.length) throw new Error(`${path}: token ${i} has a byte length of ${len}, past the end of the file`);
      this.pieces.push(new Uint8Array(buf.subarray(off, off + len)));
      off += len;
    }
    if (off !== buf.length) throw new Error(`${path}: ${buf.length - off} bytes remain after ${vocabSize} tokens (the tokenizer's vocabulary does not match the model's ${vocabSize})`);
    const dec = new TextDecoder('utf-8', { fatal: false });
    this.#text = this.pieces.map((p) => dec.decode(p));
    // first id wins, as llama2.c's sorted lookup finds any one of equal strings
    for (let i = this.vocabSize - 1; i >= 0; i--) this.#lookup.set(this.#text[i]!, i);
  }

  encode(text: string, continues = false): number[] {
    if (text.length === 0) return [];
    // symbols: start with one per character (or its bytes), linked left to right
    const ids: number[] = [];
    for (const ch of continues ? text : ' ' + text) {
      const id = this.#lookup.get(ch);
      if (id !== undefined) ids.push(id);
      else for (const b of new TextEncoder().encode(ch)) ids.push(b + 3);
    }
    return this.#merge(ids);
  }

  /** BPE by score with a heap of candidate pairs: the same result as llama2.c's repeated
   *  scan (best score, leftmost on ties) in O(n log n) instead of O(n²). */
  #merge(ids: number[]): number[] {
    const n = ids.length;
    const tok = Int32Array.from(ids);
    const next = new Int32Array(n), prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
    // heap entries: [score, left position, left token, right token]
    const heap: [number, number, number, number, number][] = [];
    const better = (a: typeof heap[0], b: typeof heap[0]): boolean => a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
    const push = (e: typeof heap[0]): void => {
      heap.push(e);
      let i = heap.length - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!better(heap[i]!, heap[p]!)) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    };
    const pop = (): typeof heap[0] => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1, r = l + 1;
          let b = i;
          if (l < heap.length && better(heap[l]!, heap[b]!)) b = l;
          if (r < heap.length && better(heap[r]!, heap[b]!)) b = r;
          if (b === i) break;
          [heap[i], heap[b]] = [heap[b]!, heap[i]!];
          i = b;
        }
      }
      return top;
    };
    const consider = (i: number): void => {
      const j = next[i]!;
      if (i < 0 || j < 0) return;
      const id = this.#lookup.get(this.#text[tok[i]!]! + this.#text[tok[j]!]!);
      if (id !== undefined) push([this.scores[id]!, i, tok[i]!, tok[j]!, id]);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.length > 0) {
      const [, i, a, b, id] = pop();
      const j = next[i]!;
      // stale entry: a side was merged away since it was pushed
      if (!alive[i] || j < 0 || tok[i] !== a || tok[j] !== b) continue;
      tok[i] = id;
      alive[j] = 0;
      next[i] = next[j]!;
      if (next[j]! >= 0) prev[next[j]!] = i;
      if (prev[i]! >= 0) consider(prev[i]!);
      consider(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0 && i < n; i = next[i]!) out.push(tok[i]!);
    return out;
  }

  #bytes(id: number, prev?: number): Uint8Array {
    const p = this.pieces[id];
    if (!p) throw new Error(`token id ${id} is outside the vocabulary of ${this.vocabSize} (${this.source})`);
    const t = this.#text[id]!;
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
    if (m) return Uint8Array.of(parseInt(m[1]!, 16));
    // llama2.c strips the space that follows BOS
    if (prev === this.bos && p[0] === 0x20) return p.subarray(1);
    return p;
  }

  decode(ids: ArrayLike<number>): string {
    const parts: Uint8Array[] = [];
    let prev: number | undefined;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id !== this.bos && id !== this.eos) parts.push(this.#bytes(id, prev ?? (i === 0 ? this.bos : undefined)));
      prev = id;
    }
    return new TextDecoder().decode(Buffer.concat(parts));
  }

  piece(id: number, prev?: number): string {
    if (id === this.bos || id === this.eos) return '';
    return new TextDecoder().decode(this.#bytes(id, prev));
  }
}

/** A Hugging Face tokenizer: a folder (or file) with tokenizer.json, or vocab.json + merges.txt
 *  (GPT-2's byte-level BPE), encoded and decoded by @huggingface/tokenizers. */
export class HfTokenizer implements Tokenizer {
  readonly source: string;
  readonly vocabSize: number;
  readonly bos: number;
  #tk: HfTokenizerImpl;

  constructor(path: string) {
    const file = path.endsWith('.json') ? path : join(path, 'tokenizer.json');
    this.source = existsSync(file) ? file : join(path, 'vocab.json');
    let json: Record<string, unknown>;
    let config: Record<string, unknown> = {};
    if (existsSync(file)) {
      json = readJsonObject(file);
      const cfgPath = join(file, '..', 'tokenizer_config.json');
      if (existsSync(cfgPath)) config = readJsonObject(cfgPath);
    } else if (existsSync(join(path, 'vocab.json')) && existsSync(join(path, 'merges.txt'))) {
      json = gpt2TokenizerJson(path);
    } else {
      throw new Error(`${path}: no tokenizer found (expected tokenizer.json, or vocab.json + merges.txt)`);
    }
    try {
      this.#tk = new HfTokenizerImpl(json, config);
    } catch (err) {
      throw new Error(`${file}: not a tokenizer the Hugging Face tokenizer library reads (${(err as Error).message})`);
    }
    let max = -1;
    for (const id of this.#tk.get_vocab().values()) max = Math.max(max, id);
    for (const id of this.#tk.get_added_tokens_decoder().keys()) max = Math.max(max, id);
    this.vocabSize = max + 1;
    this.bos = findBos(this.#tk, config, path);
  }

  encode(text: string): number[] {
    return this.#tk.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: ArrayLike<number>): string {
    return this.#tk.decode(Array.from(ids), { skip_special_tokens: false });
  }

  piece(id: number, prev?: number): string {
    if (prev === undefined) return this.decode([id]);
    // byte-level pieces decode correctly only in context: take the difference
    return this.decode([prev, id]).slice(this.decode([prev]).length);
  }
}

function findBos(tk: HfTokenizerImpl, config: Record<string, unknown>, path: string): number {
  const named = (v: unknown): string | undefined => typeof v === 'string' ? v : (v && typeof v === 'object' && 'content' in v ? String((v as { content: unknown }).content) : undefined);
  for (const name of [named(config.bos_token), '<|endoftext|>', '<s>', '<|begin_of_text|>', named(config.eos_token)]) {
    if (!name) continue;
    const id = tk.token_to_id(name);
    if (id !== undefined) return id;
  }
  throw new Error(`${path}: cannot tell the tokenizer's BOS token (no bos_token in tokenizer_config.json and none of <|endoftext|>, <s>, <|begin_of_text|> in the vocabulary)`);
}

/** GPT-2's tokenizer.json, built from vocab.json and merges.txt (byte-level BPE). */
function gpt2TokenizerJson(dir: string): Record<string, unknown> {
  const vocab = readJsonFile(join(dir, 'vocab.json'));
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new Error(`${join(dir, 'vocab.json')}: expected an object of token -> id`);
  const merges = readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n').filter((l) => l.length > 0 && !l.startsWith('#version'));
  const special = Object.entries(vocab as Record<string, number>).filter(([t]) => /^<\|.*\|>$/.test(t));
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    added_tokens: special.map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', ...byteLevel },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}
