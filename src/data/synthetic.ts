/**
 * The built-in synthetic source with known ground truth (docs/design.md §5):
 *   x = Σ_{i active} a_i · f_i + ε,   f_i unit directions in R^d,  ε ~ N(0, noise² I)
 * Feature i fires with probability ∝ (i+1)^(-alpha) (power law), about `active` features per
 * row (Poisson count, drawn without replacement), magnitudes a_i ~ U[minMag, maxMag] (or, with
 * magMean > 0, exponential with that mean: many small activations and a long tail), plus an
 * optional constant offset (a fixed vector of norm `offset` added to every row, as real
 * activations have a large mean).
 * Options: correlated groups (members co-fire with probability groupProb) and planted
 * antipodal pairs (f_{2j+1} = −f_{2j}, never active together), and documents (docLen rows
 * in order, each active feature staying active into the next row with probability persist,
 * so consecutive rows are correlated, as in an unshuffled LM stream), and a hierarchy
 * (children > 1: a firing feature emits one of its children, directions spread around it,
 * so a small dictionary learns the parent and a larger one may split it), and irreducible
 * multi-dimensional features (Engels et al. 2024): circles, each writing r·(cos φ·u + sin φ·v)
 * in its own random plane (φ continuous or one of circlePoints evenly spaced values), and spheres,
 * writing r·(a point on the unit sphere) in their own 3-D subspace, each active in a row with
 * probability manifoldProb, r ~ U[minMag, maxMag]. Deterministic given the seed.
 */
import { z } from 'zod';
import { fixedK, getBackend, type Backend } from '../compute/backend.js';
import { Rng } from '../util/rng.js';
import type { ActivationSource, GroundTruth, SourceState } from './source.js';

export const SyntheticOptions = z.object({
  d: z.number().int().min(1).default(128).describe('row width'),
  features: z.number().int().min(1).default(2048).describe('number of true features m'),
  active: z.number().positive().default(16).describe('mean number of active features per row'),
  alpha: z.number().min(0).default(0.5).describe('power-law exponent of firing probabilities'),
  minMag: z.number().min(0).default(0.5).describe('smallest magnitude of an active feature'),
  maxMag: z.number().min(0).default(1.5).describe('largest magnitude of an active feature'),
  magMean: z.number().min(0).default(0).describe('exponential magnitudes with this mean instead of U[minMag, maxMag] (0 = uniform)'),
  offset: z.number().min(0).default(0).describe('norm of a constant vector (a random direction) added to every row'),
  noise: z.number().min(0).default(0.01).describe('std of isotropic Gaussian noise per coordinate'),
  groupSize: z.number().int().min(0).default(0).describe('size of correlated groups (0 = none)'),
  groupProb: z.number().min(0).max(1).default(0.5).describe('probability a group member co-fires'),
  antipodal: z.number().int().min(0).default(0).describe('number of planted antipodal feature pairs'),
  seed: z.number().int().default(0).describe('seed of the true features'),
  targetD: z.number().int().min(0).default(0).describe('transcoder data: each feature also writes a random unit direction in R^targetD, the targets are codes · those directions (0 = no targets)'),
  children: z.number().int().min(0).default(0).describe('hierarchy: each feature is a parent whose firing emits one of this many child directions (0 = flat)'),
  childSpread: z.number().min(0).default(0.75).describe('child = normalize(parent + childSpread·u), u a random unit vector: cos(child, parent) = 1/sqrt(1 + spread²)'),
  docLen: z.number().int().min(0).default(0).describe('rows per document; 0 = independent rows'),
  persist: z.number().min(0).max(1).default(0.9).describe('within a document, probability an active feature stays active in the next row'),
  circles: z.number().int().min(0).default(0).describe('2-D circular features, each in its own random plane'),
  circlePoints: z.number().int().min(0).default(0).describe('values of each circle\'s angle φ (e.g. 7 or 12, evenly spaced); 0 = continuous'),
  spheres: z.number().int().min(0).default(0).describe('3-D features: points on a sphere, each in its own random 3-D subspace'),
  manifoldProb: z.number().min(0).max(1).default(0.1).describe('probability that each circle or sphere is active in a row'),
  stream: z.number().int().min(0).default(0).describe('which row stream (same features; stream 1 is held out for evaluation)'),
}).strict().refine((o) => o.minMag <= o.maxMag, { message: 'minMag must be <= maxMag' })
  .refine((o) => 2 * o.antipodal <= o.features, { message: 'antipodal pairs need 2·antipodal <= features' })
  .refine((o) => o.active <= o.features, { message: 'active must be <= features' })
  .refine((o) => 2 * o.circles + 3 * o.spheres <= o.d, { message: 'circles and spheres need 2·circles + 3·spheres <= d (each its own subspace)' });
export type SyntheticOptions = z.infer<typeof SyntheticOptions>;

const LATER_OPTIONS = new Set(['magMean', 'offset', 'circles', 'circlePoints', 'spheres']);

/** Parses "synthetic" or "synthetic:d=64,features=512,seed=3" into the options it names
 *  (validated with the defaults applied; the defaults are not returned). */
export function parseSyntheticSpec(spec: string, flag = '--data'): Partial<SyntheticOptions> {
  const body = spec.replace(/^synthetic:?/, '');
  const raw: Record<string, number> = {};
  for (const part of body.split(',').filter(Boolean)) {
    const [key, value] = part.split('=');
    const num = Number(value);
    if (!key || value === undefined || !Number.isFinite(num)) {
      throw new Error(`${flag} ${spec}: "${part}" is not key=number (e.g. synthetic:d=128,features=2048,active=16)`);
    }
    raw[key] = num;
  }
  const got = SyntheticOptions.safeParse(raw);
  if (!got.success) {
    const issue = got.error.issues[0]!;
    throw new Error(`${flag} ${spec}: ${issue.path.join('.') || 'options'}: ${issue.message}`);
  }
  return raw as Partial<SyntheticOptions>;
}

/** Walker's alias table for O(1) draws from a discrete distribution. */
class Alias {
  readonly prob: Float64Array;
  readonly alias: Int32Array;
  constructor(p: Float64Array) {
    const n = p.length;
    this.prob = new Float64Array(n);
    this.alias = new Int32Array(n);
    const scaled = Float64Array.from(p, (v) => v * n);
    const small: number[] = [], large: number[] = [];
    scaled.forEach((v, i) => (v < 1 ? small : large).push(i));
    while (small.length && large.length) {
      const s = small.pop()!, l = large.pop()!;
      this.prob[s] = scaled[s]!;
      this.alias[s] = l;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      (scaled[l]! < 1 ? small : large).push(l);
    }
    for (const i of [...small, ...large]) this.prob[i] = 1;
  }
  draw(rng: Rng): number {
    const i = rng.int(this.prob.length);
    return rng.uniform() < this.prob[i]! ? i : this.alias[i]!;
  }
}

export class SyntheticSource implements ActivationSource {
  readonly d: number;
  readonly length = Infinity;
  readonly description: string;
  readonly truth: GroundTruth;
  readonly options: SyntheticOptions;
  readonly dOut?: number;
  /** P(feature i fires) before group co-firing, for analysis */
  readonly fireProb: Float64Array;
  /** the constant added to every row (zeros when offset = 0) */
  readonly offsetVector: Float32Array;
  #rng: Rng;
  #alias: Alias;
  /** the previous row's active features and the row's position in its document */
  #prev: number[] = [];
  #pos = 0;
  #be: Backend;

  constructor(options: Partial<SyntheticOptions> = {}, be: Backend = getBackend()) {
    const o = SyntheticOptions.parse(options);
    this.options = o;
    this.d = o.d;
    this.#be = be;
    // options added after 0.1 are named only when set, so older runs' descriptions still match
    const named = Object.entries(o).filter(([k, v]) => !(LATER_OPTIONS.has(k) && v === 0) && !(k === 'manifoldProb' && o.circles + o.spheres === 0));
    this.description = `synthetic:${named.map(([k, v]) => `${k}=${v}`).join(',')}`;
    const frng = new Rng(o.seed);
    const features = frng.normals(o.features * o.d);
    be.normalizeRows(features, o.features, o.d);
    for (let j = 0; j < o.antipodal; j++) {
      for (let c = 0; c < o.d; c++) features[(2 * j + 1) * o.d + c] = -features[2 * j * o.d + c]!;
    }
    if (o.children > 1) {
      // children spread around their parent: the features a larger dictionary may split into
      const C = o.children, kids = new Float32Array(o.features * C * o.d);
      for (let i = 0; i < o.features * C; i++) {
        const u = frng.normals(o.d);
        be.normalizeRows(u, 1, o.d);
        const p = Math.floor(i / C);
        for (let c = 0; c < o.d; c++) kids[i * o.d + c] = features[p * o.d + c]! + o.childSpread * u[c]!;
      }
      be.normalizeRows(kids, o.features * C, o.d);
      this.truth = { features: kids, m: o.features * C, parents: features, parentOf: Int32Array.from({ length: o.features * C }, (_, i) => Math.floor(i / C)) };
    } else {
      this.truth = { features, m: o.features };
    }
    if (o.targetD > 0) {
      // drawn from their own generator, so the inputs are the same with or without targets
      const targets = new Rng((o.seed * 31 + 17) >>> 0).normals(this.truth.m * o.targetD);
      be.normalizeRows(targets, this.truth.m, o.targetD);
      this.truth = { ...this.truth, targets };
      this.dOut = o.targetD;
    }
    // its own generator too, so the features and rows are the same with or without an offset
    this.offsetVector = new Rng((o.seed * 37 + 29) >>> 0).normals(o.d);
    be.normalizeRows(this.offsetVector, 1, o.d);
    for (let c = 0; c < o.d; c++) this.offsetVector[c]! *= o.offset;
    if (o.circles + o.spheres > 0) {
      // mutually orthogonal subspaces (Gram–Schmidt over one random draw), from their own generator
      const dims = [...Array(o.circles).fill(2), ...Array(o.spheres).fill(3)] as number[];
      const total = dims.reduce((a, b) => a + b, 0);
      const basis = new Rng((o.seed * 41 + 7) >>> 0).normals(total * o.d);
      for (let r = 0; r < total; r++) {
        const row = basis.subarray(r * o.d, (r + 1) * o.d);
        for (let q = 0; q < r; q++) {
          const prev = basis.subarray(q * o.d, (q + 1) * o.d);
          let dot = 0;
          for (let c = 0; c < o.d; c++) dot += row[c]! * prev[c]!;
          for (let c = 0; c < o.d; c++) row[c]! -= dot * prev[c]!;
        }
        be.normalizeRows(row, 1, o.d);
      }
      const manifolds: { dim: number; basis: Float32Array }[] = [];
      for (let at = 0, j = 0; j < dims.length; at += dims[j]!, j++) manifolds.push({ dim: dims[j]!, basis: basis.slice(at * o.d, (at + dims[j]!) * o.d) });
      this.truth = { ...this.truth, manifolds };
    }
    const w = Float64Array.from({ length: o.features }, (_, i) => (i + 1) ** -o.alpha);
    const sum = w.reduce((a, b) => a + b, 0);
    this.#alias = new Alias(w.map((v) => v / sum));
    this.fireProb = w.map((v) => Math.min(1, (o.active * v) / sum));
    this.#rng = new Rng((Math.imul(o.seed + 1, 0x9e3779b1) ^ Math.imul(o.stream + 1, 0x85ebca6b)) >>> 0);
  }

  /** Poisson(λ) by inversion (λ is small here). */
  #poisson(lambda: number): number {
    const l = Math.exp(-lambda);
    let k = 0, p = this.#rng.uniform();
    while (p > l) {
      k++;
      p *= this.#rng.uniform();
    }
    return k;
  }

  read(out: Float32Array, rows: number, targets?: Float32Array): number {
    const o = this.options, d = o.d, rng = this.#rng;
    const perRow: number[][] = [];
    let maxActive = 0;
    for (let b = 0; b < rows; b++) {
      const want = Math.min(this.#poisson(o.active), o.features);
      const chosen = new Set<number>();
      if (o.docLen > 0) {
        if (this.#pos > 0) for (const i of this.#prev) if (chosen.size < want && rng.uniform() < o.persist) chosen.add(i);
        this.#pos = (this.#pos + 1) % o.docLen;
      }
      for (let tries = 0; chosen.size < want && tries < 20 * want; tries++) {
        const i = this.#alias.draw(rng);
        // an antipodal partner never fires with its pair
        if (i < 2 * o.antipodal && chosen.has(i ^ 1)) continue;
        chosen.add(i);
        if (o.groupSize > 1) {
          const g0 = i - (i % o.groupSize);
          for (let j = g0; j < Math.min(g0 + o.groupSize, o.features); j++) {
            if (j !== i && !(j < 2 * o.antipodal && chosen.has(j ^ 1)) && rng.uniform() < o.groupProb) chosen.add(j);
          }
        }
      }
      const list = [...chosen];
      if (o.docLen > 0) this.#prev = list;
      perRow.push(list);
      maxActive = Math.max(maxActive, list.length);
    }
    // x = codes · features through the sparse decode kernel, then noise
    const k = Math.max(maxActive, 1);
    const vals = new Float32Array(rows * k), idx = new Int32Array(rows * k).fill(-1);
    const C = o.children > 1 ? o.children : 0;
    perRow.forEach((list, b) => list.forEach((i, t) => {
      idx[b * k + t] = C ? i * C + rng.int(C) : i;
      vals[b * k + t] = o.magMean > 0 ? -o.magMean * Math.log(1 - rng.uniform()) : o.minMag + (o.maxMag - o.minMag) * rng.uniform();
    }));
    const x = out.subarray(0, rows * d);
    const codes = fixedK(vals, idx, rows, k);
    this.#be.sparseDecode(codes, this.truth.features, d, null, x);
    // targets: the same codes through the output directions (noise-free)
    if (targets && this.truth.targets) this.#be.sparseDecode(codes, this.truth.targets, o.targetD, null, targets.subarray(0, rows * o.targetD));
    this.#addManifolds(x, rows);
    if (o.noise > 0) for (let e = 0; e < rows * d; e++) x[e]! += o.noise * rng.normal();
    if (o.offset > 0) for (let e = 0; e < rows * d; e++) x[e]! += this.offsetVector[e % d]!;
    return rows;
  }

  /** Per row of the last read, per manifold: its angle φ (circles; the azimuth for spheres) and
   *  its polar angle (spheres; 0 for circles), NaN where it was not active: [rows, manifolds, 2]. */
  lastManifoldValues: Float32Array = new Float32Array(0);

  #addManifolds(x: Float32Array, rows: number): void {
    const o = this.options, ms = this.truth.manifolds;
    if (!ms) return;
    const rng = this.#rng, d = o.d, M = ms.length;
    const values = new Float32Array(rows * M * 2).fill(NaN);
    for (let b = 0; b < rows; b++) {
      ms.forEach((m, j) => {
        if (rng.uniform() >= o.manifoldProb) return;
        const r = o.minMag + (o.maxMag - o.minMag) * rng.uniform();
        let coords: number[], phi: number, theta = 0;
        if (m.dim === 2) {
          phi = o.circlePoints > 0 ? (2 * Math.PI * rng.int(o.circlePoints)) / o.circlePoints : 2 * Math.PI * rng.uniform();
          coords = [Math.cos(phi), Math.sin(phi)];
        } else {
          // uniform on the sphere
          const z = 2 * rng.uniform() - 1;
          phi = 2 * Math.PI * rng.uniform();
          theta = Math.acos(z);
          const s = Math.sqrt(1 - z * z);
          coords = [s * Math.cos(phi), s * Math.sin(phi), z];
        }
        values[(b * M + j) * 2] = phi;
        values[(b * M + j) * 2 + 1] = theta;
        for (let q = 0; q < m.dim; q++) for (let c = 0; c < d; c++) x[b * d + c]! += r * coords[q]! * m.basis[q * d + c]!;
      });
    }
    this.lastManifoldValues = values;
  }

  state(): SourceState {
    return { json: { kind: 'synthetic', rng: Array.from(this.#rng.state), prev: this.#prev, pos: this.#pos } };
  }

  restore(state: SourceState): void {
    const rng = state.json.rng;
    if (state.json.kind !== 'synthetic' || !Array.isArray(rng) || rng.length !== 4) throw new Error('checkpoint: the data state is not a synthetic source state');
    this.#rng = new Rng(Uint32Array.from(rng as number[]));
    this.#prev = Array.isArray(state.json.prev) ? (state.json.prev as number[]) : [];
    this.#pos = typeof state.json.pos === 'number' ? state.json.pos : 0;
  }
}
