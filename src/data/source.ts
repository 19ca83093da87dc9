/**
 * Activation sources: where training and evaluation rows come from. A source is a stream of
 * rows of width d that can save and restore its position exactly, so a resumed run reads the
 * same rows as an uninterrupted one.
 */

/** A source's position: JSON-safe scalars plus optional tensors (e.g. a shuffle buffer). */
export interface SourceState {
  json: Record<string, unknown>;
  tensors?: Record<string, Float32Array>;
}

/** What a source knows about how its rows were made, when it knows it. */
export interface GroundTruth {
  /** the true feature directions, unit rows [m, d] */
  features: Float32Array;
  m: number;
  /** hierarchical sources: each feature's parent, and the parent directions [parents, d] */
  parentOf?: Int32Array;
  parents?: Float32Array;
  /** transcoder data: feature i's output direction [m, dOut] (the known sparse map) */
  targets?: Float32Array;
  /** multi-dimensional features: each one's dimension and orthonormal basis [dim, d] */
  manifolds?: { dim: number; basis: Float32Array }[];
}

export interface ActivationSource {
  /** row width */
  readonly d: number;
  /** one line for logs and cfg.json */
  readonly description: string;
  /** total rows, or Infinity for an endless generator */
  readonly length: number;
  readonly truth?: GroundTruth;
  /** width of the targets when the rows come with them (transcoder data), else undefined */
  readonly dOut?: number;
  /** Fills out[0 .. rows·d) with the next rows (and targets [rows, dOut] with their targets,
   *  when given and the source has them); returns how many were filled (fewer only at the end). */
  read(out: Float32Array, rows: number, targets?: Float32Array): number;
  /** Passes over the next `rows` rows without reading them (where the source can seek); returns
   *  how many there were. Absent: a reader that skips reads and drops them. */
  skip?(rows: number): number;
  state(): SourceState;
  restore(state: SourceState): void;
}

/** A wrapping source's state tensors: the inner source's under "inner." beside its own. */
export function innerTensors(t: Record<string, Float32Array>): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => ['inner.' + k, v]));
}

/** The inner source's tensors back out of a wrapping source's state. */
export function fromInnerTensors(t: Record<string, Float32Array> | undefined): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(t ?? {}).filter(([k]) => k.startsWith('inner.')).map(([k, v]) => [k.slice(6), v]));
}
