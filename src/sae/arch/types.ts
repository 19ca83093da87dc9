/**
 * The one interface every architecture implements (docs/design.md §2.3). An architecture is a
 * file under src/sae/arch/ plus one line in registry.ts; nothing else in saekit switches on
 * the architecture's name.
 */
import type { z } from 'zod';
import type { Backend, Precision, SparseRows } from '../../compute/backend.js';
import type { Comm } from '../../compute/comm.js';
import type { ParamName, Sae, SaeParams } from '../common.js';
import type { Bf16Encoder } from '../primitives.js';
import type { LatentShard } from '../shard.js';

/** What one training step reports to the trainer. */
export interface StepOutcome {
  loss: number;
  fvu: number;
  l0: number;
  auxLoss: number;
  /** the kept entries (flat) and their latents (−1 = empty), for the firing statistics */
  acts: Float32Array;
  indices: Int32Array;
  /** architecture-specific numbers for metrics.jsonl (fvu_4k, min_kept, window_entries, l1, kl) */
  extra: Record<string, number>;
}

/** What the trainer optimizes: built by an architecture for one run. */
export interface Objective {
  /** the parameters Adam trains (and their gradients, same names) */
  readonly params: SaeParams;
  readonly grads: SaeParams;
  /** matrices kept at unit row norm: name → row width */
  readonly unitRows: Record<string, number>;
  /** forward + backward on x [rows, d] (and a transcoder's targets [rows, dOut]); progress =
   *  fraction of the run done (for warm-ups) */
  step(x: Float32Array, rows: number, dead: Uint8Array, progress: number, target?: Float32Array): StepOutcome;
  /** after the optimizer step (clamps, running statistics) */
  afterStep(res: StepOutcome): void;
  /** state a checkpoint keeps besides Adam's */
  state(): { json: Record<string, unknown>; tensors: Record<string, Float32Array> };
  restore(json: Record<string, unknown>, tensors: Record<string, Float32Array>): void;
  /** the parameters of the SAE to save (e.g. BatchTopK adds its running threshold) */
  saved(): SaeParams;
}

/** Everything an architecture needs to build its objective for one run. */
export interface ObjectiveContext<O> {
  be: Backend;
  /** input width, latents, rows per step; dOut is a transcoder's output width */
  d: number;
  n: number;
  dOut?: number;
  batch: number;
  seed: number;
  /** the architecture's own options, parsed by its schema */
  options: O;
  /** every tensor of paramShapes (initialized or restored) */
  params: SaeParams;
  /** --precision bf16: the bf16 copy of params.W_enc the encoder GEMM uses, refreshed by the
   *  trainer before every step (null: f32) */
  bf16: Bf16Encoder | null;
  /** data parallel (dataParallel architectures only): the job's ranks; x holds this rank's rows */
  comm?: Comm;
  /** latent split (latentParallel architectures only): n and params are this rank's latents of
   *  shard.total; x holds the whole batch */
  shard?: LatentShard;
}

/** Inference on rows x [B, d]. */
export interface EncodeOptions {
  /** TopK: encode at another k (a Multi-TopK SAE at k′) */
  k?: number;
  /** also return each row's (k+1)-th pre-activation (k-sparse codes only) */
  next?: boolean;
  /** the encoder GEMM's precision (default: the SAE's cfg.json precision, else f32) */
  precision?: Precision;
}

export interface Encoded {
  /** the code, CSR over rows */
  z: SparseRows;
  /** the reconstruction [B, dOut] */
  recon: Float32Array;
  /** [B]: the largest pre-activation left out of each row's code, when asked and defined */
  next?: Float32Array;
}

/** The SAE cfg.json fields an architecture decides. */
export interface SaeFields {
  k: number;
  prefixes?: number[];
  multiTopK?: boolean;
  skip?: boolean;
  /** a cross-layer transcoder's layers side by side */
  layers?: number;
  /** a cross-layer transcoder's code: each layer's batch top k, encoded by its stored thresholds */
  selection?: 'batch' | 'jumprelu';
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface Architecture<O extends object = any> {
  readonly name: string;
  /** one line: the code and the sparsity knob */
  readonly summary: string;
  /** its own training options (only these are recorded in a run's config.json) */
  readonly options: z.ZodObject;
  /** cross-field checks against the shared settings; a message naming the field, or null */
  check?(o: O, shared: { latents: number }): { field: string; message: string } | null;
  /** values derived from the options and the data that config.json records (e.g. k_aux) */
  resolve?(o: O, dims: { d: number; n: number }): Record<string, number>;
  /** tensors beyond W_enc, b_enc, W_dec, b_dec, with their shapes (`fields`: the SAE's own
   *  cfg.json fields, where they decide it) */
  extraShapes(d: number, n: number, fields: Partial<SaeFields>): Partial<Record<ParamName, number[]>>;
  /** initial value of every entry of an extra tensor */
  extraInit(name: ParamName, o: O): number;
  /** decoder rows kept at unit norm during training */
  readonly unitNormDecoder: boolean;
  /** the default learning rate as a multiple of Gao et al.'s fit 2e-4/√(n/2^14) (default 1),
   *  from the tuning sweeps of the architecture study (EXPERIMENTS.md) */
  readonly lrScale?: number;
  /** the latent count the default learning rate is fitted at (default n; a cross-layer
   *  transcoder: the latents of one layer, which each token's gradient reaches as one
   *  transcoder's would) */
  lrLatents?(o: O, n: number): number;
  /** the encoder's scale at init: 'linear', rows of a linear layer's default norm 1/√3 (k-sparse
   *  codes, whose L0 does not depend on it); 'reconstruction', scaled so the first reconstruction
   *  of the data sample has the data's scale (threshold and dense codes, which would otherwise
   *  fire on everything and reconstruct many times the input) */
  readonly initScale: 'linear' | 'reconstruction';
  /** sets a fresh code's biases or thresholds from the data sample (e.g. so a chosen number of
   *  latents fire per token at init); true when it changed them */
  initCode?(params: SaeParams, o: O, ctx: { be: Backend; x: Float32Array; rows: number; transcoder: boolean }): boolean;
  /** a last change to freshly initialized parameters (not restored ones), after the encoder's
   *  scale is set: e.g. an uncentred encoder takes the centred init's pre-activations */
  afterInit?(params: SaeParams, o: O, transcoder: boolean): void;
  /** its objective trains on a slice of the global batch per rank (--parallel data): the loss
   *  couples rows only through normalizers the ranks sum (TopK) */
  readonly dataParallel?: boolean;
  /** its objective trains on a share of the latents per rank (--parallel latents): a row top-k
   *  the ranks can choose together from their own candidates (TopK) */
  readonly latentParallel?: boolean;
  objective(ctx: ObjectiveContext<O>): Objective;
  encode(be: Backend, sae: Sae, x: Float32Array, B: number, o?: EncodeOptions): Encoded;
  /** the saved SAE's architecture fields */
  saeFields(o: O, n: number): SaeFields;
  /** SAELens's name for it (export), and whether SAELens folders of that name import as it */
  readonly saelens?: { architecture: 'topk' | 'jumprelu' | 'standard'; imports: boolean };
  /** sparsify can hold it (sparsify is TopK only) */
  readonly sparsify?: boolean;
}
