/**
 * Live language-model activations: a model's forward over a packed corpus, read out at one
 * hook site of one layer, batch by batch (no cache on disk). The same stream feeds
 * `saekit extract` (which writes shards) and training with `--data lm:...`.
 * Spec: lm:model=PATH,corpus=PATH,layer=L,site=SITE[,ctx=128][,batch=32][,tokens=N]
 *       [,excludeBos=1][,textField=text][,sep=\n\n][,from=start|end][,tokenizer=PATH][,stack=1]
 * With stack=1 a row holds the site of every layer from L to the last side by side (a
 * cross-layer transcoder's inputs; its targets likewise).
 */
import { z } from 'zod';
import type { Backend } from '../compute/backend.js';
import { buildContexts, type Contexts } from '../lm/contexts.js';
import { loadLm } from '../lm/load.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import { SITES, type Site, type Transformer } from '../lm/transformer.js';
import type { ActivationSource, SourceState } from './source.js';

export const LmSpec = z.object({
  model: z.string().min(1).describe('llama2.c .bin, Hugging Face folder, or hf:ORG/NAME'),
  corpus: z.string().min(1).describe('txt, jsonl or parquet file, or a folder of them'),
  layer: z.coerce.number().int().min(0).describe('0-indexed block'),
  site: z.enum(SITES).describe('hook site within the block'),
  targetSite: z.enum(SITES).optional().describe('transcoders: a second site of the same layer whose rows are the targets (e.g. mlp_in -> mlp_out)'),
  ctx: z.coerce.number().int().min(2).default(128).describe('context length in tokens, BOS included'),
  batch: z.coerce.number().int().min(1).default(32).describe('contexts per forward pass'),
  tokens: z.coerce.number().int().positive().optional().describe('stop after this many rows'),
  excludeBos: z.coerce.number().int().min(0).max(1).default(1).describe('1: no rows for BOS tokens (attention sinks with outsized norms)'),
  textField: z.string().default('text').describe('jsonl field / parquet column with the text'),
  sep: z.string().optional().describe('plain-text document separator (default a blank line)'),
  from: z.enum(['start', 'end']).optional().describe('start (default): the corpus\'s first contexts; end: its last ones (held-out data)'),
  tokenizer: z.string().optional().describe('tokenizer path when not beside the model'),
  stack: z.coerce.number().int().min(0).max(1).optional().describe('1: each row holds every layer from `layer` to the last side by side (width layers × d): a cross-layer transcoder\'s data'),
});
export type LmSpec = z.infer<typeof LmSpec>;

export function parseLmSpec(spec: string, flag = '--data'): LmSpec {
  const raw: Record<string, string> = {};
  for (const part of spec.replace(/^lm:/, '').split(',').filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`${flag} ${spec}: "${part}" is not key=value (e.g. lm:model=m.bin,corpus=c.txt,layer=2,site=resid_post)`);
    raw[part.slice(0, eq)] = part.slice(eq + 1).replace(/\\n/g, '\n').replace(/\\t/g, '\t');
  }
  const got = LmSpec.strict().safeParse(raw);
  if (!got.success) {
    const issue = got.error.issues[0]!;
    throw new Error(`${flag} ${spec}: ${issue.path.join('.') || 'options'}: ${issue.message}`);
  }
  return got.data;
}

/** The spec as one canonical lm:... string (what cfg.json records and parseLmSpec reads back). */
export function formatLmSpec(s: LmSpec): string {
  const parts = Object.keys(LmSpec.shape).map((k) => [k, s[k as keyof LmSpec]] as const).filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${String(v).replace(/\n/g, '\\n').replace(/\t/g, '\\t')}`);
  return `lm:${parts.join(',')}`;
}

/** One forward's kept rows of one layer: the site's (and the target site's), token ids, positions. */
interface Chunk {
  x: Float32Array;
  y: Float32Array | null;
  tok: Int32Array;
  pos: Int32Array;
  rows: number;
}

/** What the forward over a batch of contexts reads out. */
interface ForwardPlan {
  model: Transformer;
  tokenizer: Tokenizer;
  contexts: Contexts;
  site: Site;
  targetSite?: Site;
  excludeBos: boolean;
  batch: number;
}

/** The forward over the `batch` contexts from `first`, with the kept rows of each layer asked for. */
function forwardChunk(p: ForwardPlan, first: number, layers: number[]): Map<number, Chunk> {
  const { ctx, count, tokens } = p.contexts;
  const B = Math.min(p.batch, count - first);
  const chunk = tokens.subarray(first * ctx, (first + B) * ctx);
  const d = p.model.config.dim;
  const out = new Map<number, Chunk>();
  for (const l of layers) {
    out.set(l, { x: new Float32Array(B * ctx * d), y: p.targetSite ? new Float32Array(B * ctx * d) : null, tok: new Int32Array(B * ctx), pos: new Int32Array(B * ctx), rows: 0 });
  }
  const keep = (h: Float32Array, into: Float32Array, R: number, c: Chunk): number => {
    let kept = 0;
    for (let r = 0; r < R; r++) {
      if (p.excludeBos && chunk[r] === p.tokenizer.bos) continue;
      into.set(h.subarray(r * d, (r + 1) * d), kept * d);
      c.tok[kept] = chunk[r]!;
      c.pos[kept] = r % ctx;
      kept++;
    }
    return kept;
  };
  p.model.forward(chunk, B, {
    lastLayer: Math.max(...layers),
    hook: (l, site, h, R) => {
      const c = out.get(l);
      if (!c) return;
      if (site === p.site) c.rows = keep(h, c.x, R, c);
      if (c.y && site === p.targetSite) keep(h, c.y, R, c);
    },
  });
  return out;
}

/**
 * One model forward per batch of contexts for every layer a job trains (--layers): each
 * layer's reader takes its rows of the same forward. A forward's rows are kept until every
 * tracked reader has passed them; a reader that goes back (a resume from an earlier
 * checkpoint) or an untracked one (the init sample) gets the forward run again. A reader of one
 * layer alone has one of its own, untracked (it keeps the latest forward only).
 */
export class SharedForward {
  readonly plan: ForwardPlan;
  readonly layers: number[];
  readonly #chunks = new Map<number, Map<number, Chunk>>();
  readonly #readers = new Set<LmActivations>();
  /** forwards run (for tests: one per batch of contexts, not one per layer) */
  forwards = 0;

  constructor(plan: ForwardPlan, layers: number[]) {
    const n = plan.model.config.nLayers;
    for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= n) throw new Error(`layer ${l} does not exist: ${plan.model.source} has layers 0..${n - 1}`);
    this.plan = plan;
    this.layers = [...layers];
  }

  track(reader: LmActivations): void {
    this.#readers.add(reader);
  }

  /** A reader that reads no more (its run finished or failed) no longer holds rows back. */
  untrack(reader: LmActivations): void {
    this.#readers.delete(reader);
  }

  chunk(first: number, layer: number): Chunk {
    let c = this.#chunks.get(first);
    if (!c) {
      c = forwardChunk(this.plan, first, this.layers);
      this.forwards++;
      this.#chunks.set(first, c);
    }
    const min = this.#readers.size ? Math.min(...[...this.#readers].map((r) => r.contextFirst)) : first;
    for (const key of this.#chunks.keys()) if (key < min) this.#chunks.delete(key);
    return c.get(layer)!;
  }
}

/** Rows of one site, with each row's token id and position, in corpus order. */
export class LmActivations implements ActivationSource {
  readonly d: number;
  readonly length: number;
  readonly description: string;
  readonly model: Transformer;
  readonly tokenizer: Tokenizer;
  readonly contexts: Contexts;
  readonly layer: number;
  /** the layers side by side in each row (stack=1: layer..last; else [layer]) */
  readonly layers: number[];
  readonly site: Site;
  readonly targetSite?: Site;
  readonly dOut?: number;
  readonly excludeBos: boolean;
  readonly batch: number;
  /** first context of the buffered forward, and the next buffered row to hand out */
  #first = 0;
  #cursor = 0;
  #handedOut = 0;
  #buf: Chunk | null = null;
  /** the forward it reads from: shared with other layers' readers, or its own */
  readonly #shared: SharedForward;

  constructor(model: Transformer, tokenizer: Tokenizer, contexts: Contexts,
    o: { layer: number; site: Site; targetSite?: Site; excludeBos: boolean; batch: number; limit?: number; description: string; shared?: SharedForward; stack?: boolean }) {
    const c = model.config;
    if (o.layer >= c.nLayers) throw new Error(`layer ${o.layer} does not exist: ${model.source} has layers 0..${c.nLayers - 1}`);
    if (contexts.ctx > c.maxSeqLen) throw new Error(`--ctx ${contexts.ctx} is longer than ${model.source}'s context of ${c.maxSeqLen}`);
    this.model = model;
    this.tokenizer = tokenizer;
    this.contexts = contexts;
    this.layer = o.layer;
    this.layers = o.stack ? Array.from({ length: c.nLayers - o.layer }, (_, j) => o.layer + j) : [o.layer];
    this.site = o.site;
    if (o.targetSite) { this.targetSite = o.targetSite; this.dOut = c.dim * this.layers.length; }
    this.excludeBos = o.excludeBos;
    this.batch = o.batch;
    this.d = c.dim * this.layers.length;
    this.description = o.description;
    let rows = contexts.tokens.length;
    if (o.excludeBos) for (const t of contexts.tokens) if (t === tokenizer.bos) rows--;
    this.length = Math.min(rows, o.limit ?? Infinity);
    if (o.stack && o.shared) throw new Error('stack=1 reads every layer in one stream; it cannot share a forward with --layers');
    this.#shared = o.shared ?? new SharedForward({ model, tokenizer, contexts, site: o.site, ...(o.targetSite ? { targetSite: o.targetSite } : {}), excludeBos: o.excludeBos, batch: o.batch }, this.layers);
  }

  /** The first context of the forward this reader is in. */
  get contextFirst(): number {
    return this.#first;
  }

  /** This layer's rows of the forward for the contexts starting at #first (stacked: every
   *  layer's row side by side; the layers keep the same tokens). */
  #fill(): void {
    if (this.layers.length === 1) {
      this.#buf = this.#shared.chunk(this.#first, this.layer);
      return;
    }
    const parts = this.layers.map((l) => this.#shared.chunk(this.#first, l)), first = parts[0]!;
    const dm = this.model.config.dim, S = parts.length, w = S * dm;
    const x = new Float32Array(first.rows * w), y = first.y ? new Float32Array(first.rows * w) : null;
    parts.forEach((c, j) => {
      for (let r = 0; r < first.rows; r++) {
        x.set(c.x.subarray(r * dm, (r + 1) * dm), r * w + j * dm);
        if (y) y.set(c.y!.subarray(r * dm, (r + 1) * dm), r * w + j * dm);
      }
    });
    this.#buf = { x, y, tok: first.tok, pos: first.pos, rows: first.rows };
  }

  /** Like read(), also giving each row's token id and position in its context. */
  readWithTokens(out: Float32Array, rows: number, outTok?: Int32Array, outPos?: Int32Array, targets?: Float32Array): number {
    let filled = 0;
    const d = this.d;
    rows = Math.min(rows, this.length - this.#handedOut);
    while (filled < rows) {
      if (!this.#buf) {
        if (this.#first >= this.contexts.count) break;
        this.#fill();
      }
      const b = this.#buf!;
      const take = Math.min(rows - filled, b.rows - this.#cursor);
      out.set(b.x.subarray(this.#cursor * d, (this.#cursor + take) * d), filled * d);
      if (targets && b.y) targets.set(b.y.subarray(this.#cursor * d, (this.#cursor + take) * d), filled * d);
      outTok?.set(b.tok.subarray(this.#cursor, this.#cursor + take), filled);
      outPos?.set(b.pos.subarray(this.#cursor, this.#cursor + take), filled);
      filled += take;
      this.#cursor += take;
      if (this.#cursor === b.rows) {
        this.#first += this.batch;
        this.#cursor = 0;
        this.#buf = null;
      }
    }
    this.#handedOut += filled;
    return filled;
  }

  read(out: Float32Array, rows: number, targets?: Float32Array): number {
    return this.readWithTokens(out, rows, undefined, undefined, targets);
  }

  state(): SourceState {
    return { json: { kind: 'lm', context: this.#first, row: this.#cursor, handed_out: this.#handedOut } };
  }

  restore(state: SourceState): void {
    const { kind, context, row, handed_out } = state.json as { kind?: string; context?: number; row?: number; handed_out?: number };
    if (kind !== 'lm' || typeof context !== 'number' || typeof row !== 'number' || typeof handed_out !== 'number') {
      throw new Error('checkpoint: the data state is not a language-model source state');
    }
    this.#first = context;
    this.#cursor = row;
    this.#handedOut = handed_out;
    this.#buf = null;
    if (row > 0) this.#fill();
  }
}

/** The model, its tokenizer and the corpus packed into contexts, as a spec asks. */
async function loadForSpec(s: LmSpec, be: Backend): Promise<{ model: Transformer; tokenizer: Tokenizer; contexts: Contexts }> {
  const { model, tokenizer } = await loadLm(s.model, be, s.tokenizer);
  const contexts = await buildContexts(s.corpus, tokenizer, {
    ctx: s.ctx, rows: s.tokens, excludeBos: s.excludeBos === 1, fromEnd: s.from === 'end', field: s.textField, separator: s.sep,
  });
  return { model, tokenizer, contexts };
}

/** The reader of one layer's rows a spec describes (over a shared forward when given). */
function readerFor(s: LmSpec, loaded: { model: Transformer; tokenizer: Tokenizer; contexts: Contexts }, layer: number, shared?: SharedForward): LmActivations {
  return new LmActivations(loaded.model, loaded.tokenizer, loaded.contexts, {
    layer, site: s.site, targetSite: s.targetSite, excludeBos: s.excludeBos === 1, batch: s.batch, limit: s.tokens,
    description: formatLmSpec({ ...s, layer }), ...(shared ? { shared } : {}), ...(s.stack === 1 ? { stack: true } : {}),
  });
}

/** Loads the model, packs the corpus and opens the stream a spec describes. */
export async function openLmSource(spec: string | LmSpec, be: Backend): Promise<LmActivations> {
  const s = typeof spec === 'string' ? parseLmSpec(spec) : spec;
  return readerFor(s, await loadForSpec(s, be), s.layer);
}

/** Loads the model once and packs the corpus once for readers of several layers over one
 *  shared forward (--layers): `open(layer)` is that layer's stream (tracked: the forward's rows
 *  are kept until it has read them; untracked: a one-off read such as the init sample). */
export async function openSharedLm(spec: LmSpec, be: Backend, layers: number[] | 'all'): Promise<{ shared: SharedForward; open(layer: number, tracked?: boolean): LmActivations }> {
  const loaded = await loadForSpec(spec, be);
  const plan = { ...loaded, site: spec.site, ...(spec.targetSite ? { targetSite: spec.targetSite } : {}), excludeBos: spec.excludeBos === 1, batch: spec.batch };
  const shared = new SharedForward(plan, layers === 'all' ? Array.from({ length: loaded.model.config.nLayers }, (_, l) => l) : layers);
  return {
    shared,
    open(layer, tracked = true) {
      const reader = readerFor(spec, loaded, layer, shared);
      if (tracked) shared.track(reader);
      return reader;
    },
  };
}
