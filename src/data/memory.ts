/** Rows held in memory as a source: for evaluating many SAEs on exactly the same tokens. */
import type { ActivationSource, GroundTruth, SourceState } from './source.js';

export class MemorySource implements ActivationSource {
  readonly d: number;
  readonly length: number;
  readonly description: string;
  readonly truth?: GroundTruth;
  readonly rows: Float32Array;
  #pos = 0;

  constructor(rows: Float32Array, d: number, description: string, truth?: GroundTruth) {
    this.rows = rows;
    this.d = d;
    this.length = rows.length / d;
    this.description = description;
    if (truth) this.truth = truth;
  }

  /** Reads `count` rows of another source into memory. */
  static take(src: ActivationSource, count: number): MemorySource {
    const rows = new Float32Array(count * src.d);
    const got = src.read(rows, count);
    return new MemorySource(rows.subarray(0, got * src.d), src.d, `${got} rows of ${src.description}`, src.truth);
  }

  /** A fresh reader over the same rows, from the start. */
  rewind(): MemorySource {
    return new MemorySource(this.rows, this.d, this.description, this.truth);
  }

  read(out: Float32Array, rows: number): number {
    const n = Math.min(rows, this.length - this.#pos);
    out.set(this.rows.subarray(this.#pos * this.d, (this.#pos + n) * this.d));
    this.#pos += n;
    return n;
  }

  state(): SourceState {
    return { json: { kind: 'memory', pos: this.#pos } };
  }

  restore(state: SourceState): void {
    this.#pos = Number(state.json.pos ?? 0);
  }
}
