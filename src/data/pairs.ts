/**
 * Inputs with their targets through row-level wrappers (the shuffle buffer): JoinedTargets
 * presents rows [x | target] of width d + dOut, SplitTargets takes them apart again, so a
 * shuffled transcoder row keeps its own target. State passes through unchanged.
 */
import type { ActivationSource, SourceState } from './source.js';

export class JoinedTargets implements ActivationSource {
  readonly d: number;
  readonly length: number;
  readonly description: string;
  readonly inner: ActivationSource;
  #x = new Float32Array(0);
  #y = new Float32Array(0);

  constructor(inner: ActivationSource) {
    if (!inner.dOut) throw new Error(`data ${inner.description} has no targets to join`);
    this.inner = inner;
    this.d = inner.d + inner.dOut;
    this.length = inner.length;
    this.description = inner.description;
  }

  get truth() {
    return this.inner.truth;
  }

  read(out: Float32Array, rows: number): number {
    const dx = this.inner.d, dy = this.inner.dOut!;
    if (this.#x.length < rows * dx) { this.#x = new Float32Array(rows * dx); this.#y = new Float32Array(rows * dy); }
    const got = this.inner.read(this.#x, rows, this.#y);
    for (let r = 0; r < got; r++) {
      out.set(this.#x.subarray(r * dx, (r + 1) * dx), r * this.d);
      out.set(this.#y.subarray(r * dy, (r + 1) * dy), r * this.d + dx);
    }
    return got;
  }

  state(): SourceState { return this.inner.state(); }
  restore(state: SourceState): void { this.inner.restore(state); }
}

export class SplitTargets implements ActivationSource {
  readonly d: number;
  readonly dOut: number;
  readonly length: number;
  readonly description: string;
  readonly inner: ActivationSource;
  #rows = new Float32Array(0);

  constructor(inner: ActivationSource, d: number, dOut: number) {
    this.inner = inner;
    this.d = d;
    this.dOut = dOut;
    this.length = inner.length;
    this.description = inner.description;
  }

  get truth() {
    return this.inner.truth;
  }

  read(out: Float32Array, rows: number, targets?: Float32Array): number {
    const w = this.d + this.dOut;
    if (this.#rows.length < rows * w) this.#rows = new Float32Array(rows * w);
    const got = this.inner.read(this.#rows, rows);
    for (let r = 0; r < got; r++) {
      out.set(this.#rows.subarray(r * w, r * w + this.d), r * this.d);
      targets?.set(this.#rows.subarray(r * w + this.d, (r + 1) * w), r * this.dOut);
    }
    return got;
  }

  state(): SourceState { return this.inner.state(); }
  restore(state: SourceState): void { this.inner.restore(state); }
}
