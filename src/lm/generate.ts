/** Text generation with the KV cache: greedy (temperature 0) or sampled, as llama2.c's `run`. */
import { Rng } from '../util/rng.js';
import type { Tokenizer } from './tokenizer.js';
import { KvCache, type Hook, type Transformer } from './transformer.js';

export interface GenerateOptions {
  /** forward passes, prompt included (llama2.c's `steps`): at most that many new tokens */
  steps: number;
  /** 0 = greedy */
  temperature?: number;
  /** nucleus sampling mass, 1 = off */
  topP?: number;
  seed?: number;
  /** receives each new piece of text as it is produced */
  onText?: (piece: string) => void;
  /** reads or rewrites hook sites on every forward (steering, ablation) */
  hook?: Hook;
}

/** Generates from BOS + prompt; returns the generated text (prompt included) and token ids. */
export function generate(model: Transformer, tok: Tokenizer, prompt: string, o: GenerateOptions): { text: string; ids: number[] } {
  const steps = Math.min(o.steps, model.config.maxSeqLen);
  const ids = [tok.bos, ...tok.encode(prompt)];
  if (ids.length > steps) throw new Error(`the prompt has ${ids.length} tokens with BOS, more than the ${steps} steps`);
  const cache = new KvCache(model.config, 1, steps);
  const rng = new Rng(o.seed ?? 0);
  const V = model.config.vocabSize;
  const logits = new Float32Array(V);
  let text = '';
  for (let pos = 0; pos < steps; pos++) {
    const hidden = model.forward(Int32Array.of(ids[pos]!), 1, { cache, ...(o.hook ? { hook: o.hook } : {}) })!;
    if (pos + 1 < ids.length) {
      const piece = tok.piece(ids[pos + 1]!, ids[pos]);
      text += piece;
      o.onText?.(piece);
      continue;
    }
    model.logits(hidden, 0, 1, logits);
    const next = (o.temperature ?? 0) === 0 ? argmax(logits) : sample(logits, o.temperature!, o.topP ?? 1, rng);
    if (next === tok.bos) break;
    const piece = tok.piece(next, ids[pos]);
    text += piece;
    o.onText?.(piece);
    ids.push(next);
  }
  return { text, ids };
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function sample(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const p = Float64Array.from(logits, (v) => Math.exp((v - max) / temperature));
  const sum = p.reduce((a, b) => a + b, 0);
  const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]!);
  let mass = 0, cut = order.length;
  for (let i = 0; i < order.length; i++) {
    mass += p[order[i]!]! / sum;
    if (mass >= topP) { cut = i + 1; break; }
  }
  const kept = order.slice(0, cut);
  const total = kept.reduce((a, i) => a + p[i]!, 0);
  let r = rng.uniform() * total;
  for (const i of kept) { r -= p[i]!; if (r <= 0) return i; }
  return kept[kept.length - 1]!;
}
