/**
 * Shuffle buffer: holds `size` rows; each output row is a uniformly chosen buffered row,
 * replaced by the next input row. Mixes rows across documents without reading everything.
 * Its state (buffer contents, fill, RNG) is saved in checkpoints so resume is exact.
 */
import { Rng } from '../util/rng.js';
import { fromInnerTensors, innerTensors, type ActivationSource, type SourceState } from './source.js';

export class ShuffleBuffer implements ActivationSource {
  readonly d: number;
  readonly length: number;
  readonly description: string;
  readonly inner: ActivationSource;
  readonly size: number;
  #buf: Float32Array;
  #fill = 0;
  #primed = false;
  #rng: Rng;
  /** rows read ahead from the inner source in blocks, consumed one per output row */
  #stage: Float32Array;
  #stageFill = 0;
  #stagePos = 0;

  constructor(inner: ActivationSource, size: number, seed: number) {
    this.inner = inner;
    this.d = inner.d;
    this.length = inner.length;
    this.size = size;
    this.description = `${inner.description} (shuffle buffer ${size})`;
    this.#buf = new Float32Array(size * inner.d);
    this.#rng = new Rng((seed ^ 0x5f0ff1e) >>> 0);
    this.#stage = new Float32Array(Math.min(size, 4096) * inner.d);
  }

  /** The next inner row into `into`, or false at the end of the inner source. */
  #nextInner(into: Float32Array, at: number): boolean {
    if (this.#stagePos === this.#stageFill) {
      this.#stageFill = this.inner.read(this.#stage, this.#stage.length / this.d);
      this.#stagePos = 0;
      if (this.#stageFill === 0) return false;
    }
    into.set(this.#stage.subarray(this.#stagePos * this.d, (this.#stagePos + 1) * this.d), at);
    this.#stagePos++;
    return true;
  }

  get truth() {
    return this.inner.truth;
  }

  read(out: Float32Array, rows: number): number {
    const d = this.d;
    if (!this.#primed) {
      this.#fill = this.inner.read(this.#buf, this.size);
      this.#primed = true;
    }
    let filled = 0;
    while (filled < rows && this.#fill > 0) {
      const j = this.#rng.int(this.#fill);
      out.set(this.#buf.subarray(j * d, (j + 1) * d), filled * d);
      filled++;
      if (!this.#nextInner(this.#buf, j * d)) {
        this.#fill--;
        this.#buf.copyWithin(j * d, this.#fill * d, (this.#fill + 1) * d);
      }
    }
    return filled;
  }

  state(): SourceState {
    const inner = this.inner.state();
    return {
      json: { kind: 'shuffle', fill: this.#fill, primed: this.#primed, rng: Array.from(this.#rng.state), inner: inner.json },
      tensors: {
        ...innerTensors(inner.tensors ?? {}),
        buffer: this.#buf.slice(0, this.#fill * this.d),
        stage: this.#stage.slice(this.#stagePos * this.d, this.#stageFill * this.d),
      },
    };
  }

  restore(state: SourceState): void {
    const j = state.json as { kind?: string; fill?: number; primed?: boolean; rng?: number[]; inner?: Record<string, unknown> };
    if (j.kind !== 'shuffle' || typeof j.fill !== 'number' || !j.inner || !j.rng) throw new Error('checkpoint: the data state is not a shuffle-buffer state');
    const buffer = state.tensors?.buffer;
    if (!buffer || buffer.length !== j.fill * this.d) throw new Error(`checkpoint: the shuffle buffer holds ${buffer?.length ?? 0} values, expected ${j.fill * this.d}`);
    this.#buf.set(buffer);
    this.#fill = j.fill;
    this.#primed = Boolean(j.primed);
    this.#rng = new Rng(Uint32Array.from(j.rng));
    const stage = state.tensors?.stage ?? new Float32Array(0);
    this.#stage.set(stage);
    this.#stageFill = stage.length / this.d;
    this.#stagePos = 0;
    this.inner.restore({ json: j.inner, tensors: fromInnerTensors(state.tensors) });
  }
}
