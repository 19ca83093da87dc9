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

export async function buildContexts(corpus: string, tok: Tokenizer, o: ContextOptions): Promise<Contexts> {
  const { ctx } = o;
  if (!Number.isInteger(ctx) || ctx < 2) throw new Error(`--ctx must be an integer >= 2, got ${ctx}`);
  const want = o.rows ?? Infinity;
  const out: number[] = [];
  let cur: number[] = [tok.bos];
  let rows = 0, documents = 0;
  const finish = (): void => {
    for (const t of cur) out.push(t);
    rows += o.excludeBos ? cur.filter((t) => t !== tok.bos).length : cur.length;
    cur = [tok.bos];
  };
  const push = (t: number): void => {
    if (cur.length === 1 && t === tok.bos) return;
    cur.push(t);
    if (cur.length === ctx) finish();
  };
  for await (const doc of readDocuments(corpus, o)) {
    documents++;
    if (documents > 1) push(tok.bos);
    for (const t of tok.encode(doc)) push(t);
    if (!o.fromEnd && rows >= want) break;
  }
  if (documents === 0) throw new Error(`corpus ${corpus}: no text (every document is empty)`);
  let count = out.length / ctx;
  if (count === 0) throw new Error(`corpus ${corpus}: ${cur.length} tokens, fewer than one context of --ctx ${ctx}`);
  let tokens = Int32Array.from(out);
  if (o.fromEnd && Number.isFinite(want)) {
    // the last contexts that together hold at least `want` rows
    const per = o.excludeBos ? (i: number) => tokens.subarray(i * ctx, (i + 1) * ctx).filter((t) => t !== tok.bos).length : () => ctx;
    let keep = 0, got = 0;
    while (keep < count && got < want) got += per(count - 1 - keep++);
    tokens = tokens.slice((count - keep) * ctx);
    count = keep;
  }
  return { tokens, count, ctx, documents };
}
