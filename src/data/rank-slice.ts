/**
 * A rank's own rows of a data-parallel job (--parallel data, docs/design.md §3.4): the rows
 * [lo, hi) of every block of `block` rows of the inner stream (block = the global batch), so
 * that the ranks' reads together are exactly the global batches one process would read. The
 * other ranks' rows are skipped by seeking where the source can (shards, files); a generator
 * (synthetic or live-model data), whose rows depend on how many are asked for at once, is read a
 * whole block at a time, as one process reads it, and this rank keeps its part.
 */
import { fromInnerTensors, innerTensors, type ActivationSource, type SourceState } from './source.js';

export class RankSlice implements ActivationSource {
  readonly inner: ActivationSource;
  readonly d: number;
  readonly dOut?: number;
  readonly length: number;
  readonly description: string;
  readonly block: number;
  readonly lo: number;
  readonly hi: number;
  /** seekable sources: the position within the current block of the inner stream */
  #at = 0;
  /** generators: this rank's rows of the last block read, not yet handed out */
  #held = { x: new Float32Array(0), y: new Float32Array(0), rows: 0, pos: 0 };
  #scratch: { x: Float32Array; y?: Float32Array } | null = null;

  constructor(inner: ActivationSource, block: number, lo: number, hi: number) {
    this.inner = inner;
    this.d = inner.d;
    if (inner.dOut) this.dOut = inner.dOut;
    this.block = block; this.lo = lo; this.hi = hi;
    const full = Math.floor(inner.length / block), rest = inner.length - full * block;
    this.length = Number.isFinite(inner.length) ? full * (hi - lo) + Math.max(0, Math.min(rest, hi) - lo) : Infinity;
    this.description = `${inner.description} (rows ${lo}:${hi} of every ${block})`;
  }

  get truth() {
    return this.inner.truth;
  }

  read(out: Float32Array, rows: number, targets?: Float32Array): number {
    return this.inner.skip ? this.#readSeeking(out, rows, targets) : this.#readBlocks(out, rows, targets);
  }

  #readSeeking(out: Float32Array, rows: number, targets?: Float32Array): number {
    const { d, lo, hi, block } = this, w = this.dOut ?? 0, skip = this.inner.skip!.bind(this.inner);
    let filled = 0;
    while (filled < rows) {
      if (this.#at < lo) {
        const want = lo - this.#at, got = skip(want);
        this.#at += got;
        if (got < want) break;
      }
      if (this.#at >= hi) {
        const want = block - this.#at, got = skip(want);
        this.#at = got < want ? this.#at + got : 0;
        if (got < want) break;
        continue;
      }
      const take = Math.min(rows - filled, hi - this.#at);
      const got = this.inner.read(out.subarray(filled * d), take, targets && w ? targets.subarray(filled * w) : undefined);
      filled += got;
      this.#at += got;
      if (got < take) break;
    }
    return filled;
  }

  #readBlocks(out: Float32Array, rows: number, targets?: Float32Array): number {
    const { d, lo, hi, block } = this, w = this.dOut ?? 0, held = this.#held;
    let filled = 0;
    while (filled < rows) {
      if (held.pos === held.rows) {
        // the next block, read whole as one process reads it
        if (!this.#scratch) this.#scratch = { x: new Float32Array(block * d), ...(w ? { y: new Float32Array(block * w) } : {}) };
        const got = this.inner.read(this.#scratch.x, block, this.#scratch.y);
        const mine = Math.max(0, Math.min(got, hi) - lo);
        held.x = this.#scratch.x.slice(lo * d, (lo + mine) * d);
        held.y = w ? this.#scratch.y!.slice(lo * w, (lo + mine) * w) : held.y;
        held.rows = mine;
        held.pos = 0;
        if (mine === 0) break;
      }
      const take = Math.min(rows - filled, held.rows - held.pos);
      out.set(held.x.subarray(held.pos * d, (held.pos + take) * d), filled * d);
      if (targets && w) targets.set(held.y.subarray(held.pos * w, (held.pos + take) * w), filled * w);
      held.pos += take;
      filled += take;
    }
    return filled;
  }

  state(): SourceState {
    const inner = this.inner.state(), held = this.#held, w = this.dOut ?? 0;
    return {
      json: { kind: 'rank-slice', at: this.#at, block: this.block, lo: this.lo, hi: this.hi, inner: inner.json },
      tensors: {
        ...innerTensors(inner.tensors ?? {}),
        held: held.x.slice(held.pos * this.d, held.rows * this.d),
        ...(w ? { heldTargets: held.y.slice(held.pos * w, held.rows * w) } : {}),
      },
    };
  }

  restore(state: SourceState): void {
    const j = state.json as { kind?: string; at?: number; block?: number; lo?: number; hi?: number; inner?: Record<string, unknown> };
    if (j.kind !== 'rank-slice' || typeof j.at !== 'number' || !j.inner) throw new Error('checkpoint: the data state is not a rank\'s slice of the data');
    if (j.block !== this.block || j.lo !== this.lo || j.hi !== this.hi) {
      throw new Error(`checkpoint: this rank read rows ${j.lo}:${j.hi} of every ${j.block}, not ${this.lo}:${this.hi} of every ${this.block} (resume with the same --batch and number of ranks)`);
    }
    this.#at = j.at;
    const t = state.tensors ?? {}, w = this.dOut ?? 0;
    const x = t.held ?? new Float32Array(0);
    this.#held = { x: x.slice(), y: w ? (t.heldTargets ?? new Float32Array(0)).slice() : new Float32Array(0), rows: x.length / this.d, pos: 0 };
    this.inner.restore({ json: j.inner, tensors: fromInnerTensors(t) });
  }
}

/** The rows of the whole data behind a rank's source (every rank's slice together): the length
 *  of the stream its RankSlice divides, found through the wrappers above it (shuffle, targets). */
export function wholeLength(src: ActivationSource): number {
  for (let s: ActivationSource | undefined = src; s; s = (s as { inner?: ActivationSource }).inner) {
    if (s instanceof RankSlice) return s.inner.length;
  }
  return src.length;
}
