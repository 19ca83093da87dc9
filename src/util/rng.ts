/**
 * Seeded random numbers: xoshiro128** with a state of four uint32 words, so a checkpoint can
 * save the state and a resumed run draws exactly the same numbers.
 */
export class Rng {
  #s: Uint32Array;

  constructor(seed: number | Uint32Array) {
    if (typeof seed !== 'number') {
      this.#s = Uint32Array.from(seed);
      return;
    }
    // splitmix32 spreads the seed over the state (an all-zero state would be stuck).
    this.#s = new Uint32Array(4);
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      this.#s[i] = (t ^ (t >>> 16)) >>> 0;
    }
  }

  /** A copy of the state, for checkpoints. */
  get state(): Uint32Array {
    return Uint32Array.from(this.#s);
  }

  /** uniform uint32 */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** uniform in [0, 1) with 32 random bits */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** uniform integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** standard normal (Box–Muller; one draw per call keeps the state simple) */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Moves past `count` normals (as many draws as normals(count) makes, without keeping them). */
  skipNormals(count: number): void {
    for (let i = 0; i < 2 * count; i++) this.nextU32();
  }

  /** Float32Array of standard normals times scale */
  normals(len: number, scale = 1): Float32Array {
    const out = new Float32Array(len);
    for (let i = 0; i < len; i++) out[i] = this.normal() * scale;
    return out;
  }
}

/**
 * A seed for one purpose: the user's seed mixed with a hash of the purpose's name (FNV-1a),
 * so that two components given the same seed draw unrelated numbers. Without it the SAE's
 * init and the synthetic generator, both at seed 0, drew the same normals: the initial decoder
 * rows were the true features (docs/design.md §4.1).
 */
export function seedFor(seed: number, purpose: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < purpose.length; i++) h = Math.imul(h ^ purpose.charCodeAt(i), 0x01000193) >>> 0;
  return (h ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
