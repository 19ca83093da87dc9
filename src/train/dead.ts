/** Firing statistics: tokens since each latent last fired, and the dead mask for AuxK. */
export class FiringTracker {
  /** tokens since latent i last fired (float64: exact up to 2^53 tokens) */
  readonly sinceFired: Float64Array;
  readonly deadAfter: number;
  readonly mask: Uint8Array;
  constructor(n: number, deadAfter: number) {
    this.sinceFired = new Float64Array(n);
    this.deadAfter = deadAfter;
    this.mask = new Uint8Array(n);
  }

  /** Refreshes and returns the dead mask (1 = no firing in the last deadAfter tokens). */
  deadMask(): Uint8Array {
    for (let i = 0; i < this.sinceFired.length; i++) this.mask[i] = this.sinceFired[i]! >= this.deadAfter ? 1 : 0;
    return this.mask;
  }

  deadCount(): number {
    let c = 0;
    for (let i = 0; i < this.sinceFired.length; i++) if (this.sinceFired[i]! >= this.deadAfter) c++;
    return c;
  }

  deadFraction(): number {
    return this.deadCount() / this.sinceFired.length;
  }

  /** After a batch of `rows` tokens in which the latents with fired[i] > 0 fired (data parallel:
   *  every rank's firing, summed). */
  recordFired(rows: number, fired: Float32Array): void {
    for (let i = 0; i < this.sinceFired.length; i++) this.sinceFired[i] = fired[i]! > 0 ? 0 : this.sinceFired[i]! + rows;
  }

  /** After a batch of `rows` tokens whose kept activations are acts/indices. */
  record(rows: number, acts: Float32Array, indices: Int32Array): void {
    for (let i = 0; i < this.sinceFired.length; i++) this.sinceFired[i]! += rows;
    for (let e = 0; e < acts.length; e++) if (acts[e]! > 0 && indices[e]! >= 0) this.sinceFired[indices[e]!] = 0;
  }
}
