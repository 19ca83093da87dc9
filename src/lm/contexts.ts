/**
 * Packing a corpus into fixed-length contexts, deterministically: documents are tokenized in
 * corpus order and joined with BOS between them; each context is BOS followed by the next
 * ctx − 1 tokens of that stream (a separator BOS that would follow the context's own BOS is
 * skipped), as SAELens and sparsify pack their activation datasets.
 */
import { readDocuments, type CorpusOptions } from '../io/corpus.js';
import type { Tokenizer } from './tokenizer.js';

export interface Contexts {
  /** [count, ctx] token ids */
  tokens: Int32Array;
  count: number;
  ctx: number;
  documents: number;
}

export interface ContextOptions extends CorpusOptions {
  ctx: number;
  /** stop once the contexts hold this many rows (tokens, not counting BOS when excludeBos) */
  rows?: number;
  excludeBos?: boolean;
  /** take the corpus's last contexts instead of its first (held-out data) */
  fromEnd?: boolean;
}

/** Packed contexts of a whole corpus, per tokenizer and packing settings: one process
 *  tokenizes a corpus once however many readers (training stream, init sample, held-out
 *  contexts) open it. */
const packed = new WeakMap<Tokenizer, Map<string, Promise<Contexts>>>();

export async function buildContexts(corpus: string, tok: Tokenizer, o: ContextOptions): Promise<Contexts> {
  const { ctx } = o;
  if (!Number.isInteger(ctx) || ctx < 2) throw new Error(`--ctx must be an integer >= 2, got ${ctx}`);
  const want = o.rows ?? Infinity;
  const key = JSON.stringify([corpus, ctx, Boolean(o.excludeBos), o.field ?? null, o.separator ?? null]);
  if (!packed.has(tok)) packed.set(tok, new Map());
  const cache = packed.get(tok)!;
  let all = cache.get(key);
  // a bounded read from the start stops early unless the whole corpus is packed already
  if (!all && !o.fromEnd && Number.isFinite(want)) return pack(corpus, tok, o, want);
  if (!all) {
    all = pack(corpus, tok, o, Infinity);
    cache.set(key, all);
    all.catch(() => cache.delete(key));
  }
  const full = await all;
  if (!Number.isFinite(want)) return full;
  return o.fromEnd ? lastContexts(full, tok, o, want) : firstContexts(full, tok, o, want);
}

/** Rows of context i (BOS rows not counted when excludeBos). */
function rowsOf(c: Contexts, tok: Tokenizer, o: ContextOptions, i: number): number {
  return o.excludeBos ? c.tokens.subarray(i * c.ctx, (i + 1) * c.ctx).filter((t) => t !== tok.bos).length : c.ctx;
}

/** The first contexts that together hold at least `want` rows. */
function firstContexts(c: Contexts, tok: Tokenizer, o: ContextOptions, want: number): Contexts {
  let keep = 0, got = 0;
  while (keep < c.count && got < want) got += rowsOf(c, tok, o, keep++);
  return { ...c, tokens: c.tokens.slice(0, keep * c.ctx), count: keep };
}

/** The last contexts that together hold at least `want` rows. */
function lastContexts(c: Contexts, tok: Tokenizer, o: ContextOptions, want: number): Contexts {
  let keep = 0, got = 0;
  while (keep < c.count && got < want) got += rowsOf(c, tok, o, c.count - 1 - keep++);
  return { ...c, tokens: c.tokens.slice((c.count - keep) * c.ctx), count: keep };
}

/** Int32 ids appended in blocks (4 bytes a token, not a JS array's 8 or more). */
class IdBuffer {
  #buf = new Int32Array(1 << 16);
  length = 0;
  push(ids: ArrayLike<number>): void {
    if (this.length + ids.length > this.#buf.length) {
      const grown = new Int32Array(Math.max(2 * this.#buf.length, this.length + ids.length));
      grown.set(this.#buf.subarray(0, this.length));
      this.#buf = grown;
    }
    for (let i = 0; i < ids.length; i++) this.#buf[this.length++] = ids[i]!;
  }
  take(): Int32Array {
    return this.#buf.slice(0, this.length);
  }
}

/** Tokenizes documents in order (long ones piece by piece) and packs them, stopping at the
 *  context that completes `want` rows (the same contexts firstContexts takes from the whole
 *  corpus): memory is bounded by the rows kept and one piece of text. */
async function pack(corpus: string, tok: Tokenizer, o: ContextOptions, want: number): Promise<Contexts> {
  const { ctx } = o;
  const out = new IdBuffer();
  const cur = new Int32Array(ctx);
  let fill = 1, rows = 0, documents = 0;
  cur[0] = tok.bos;
  const push = (t: number): void => {
    if (fill === 1 && t === tok.bos) return;
    cur[fill++] = t;
    if (fill < ctx) return;
    out.push(cur);
    if (o.excludeBos) for (const x of cur) rows += x === tok.bos ? 0 : 1;
    else rows += ctx;
    fill = 1;
  };
  const warnUtf8 = (file: string, share: number): void => {
    process.stderr.write(`saekit: warning: corpus ${file}: ${(100 * share).toFixed(1)}% of its characters are not valid UTF-8 (a binary file?); they are tokenized as U+FFFD\n`);
  };
  read: for await (const piece of readDocuments(corpus, { ...o, onInvalidUtf8: warnUtf8 })) {
    if (piece.first) {
      documents++;
      if (documents > 1) push(tok.bos);
    }
    for (const t of tok.encode(piece.text, !piece.first)) {
      push(t);
      if (rows >= want) break read;
    }
  }
  if (documents === 0) throw new Error(`corpus ${corpus}: no text (every document is empty)`);
  const count = out.length / ctx;
  if (count === 0) throw new Error(`corpus ${corpus}: ${fill} tokens, fewer than one context of --ctx ${ctx}`);
  return { tokens: out.take(), count, ctx, documents };
}
