/**
 * What every SAE architecture shares: the parameter set and the configuration. The init is
 * init.ts, the on-disk form folder.ts.
 *
 * Layout (row i belongs to latent i): W_enc [n, d], b_enc [n], W_dec [n, d], b_dec [d]; the
 * threshold architectures (JumpReLU, and BatchTopK/Matryoshka at inference) add threshold [n],
 * the VAE adds its log-variance head W_logvar [n, d], b_logvar [n].
 */
export type SaeParams = {
  W_enc: Float32Array;
  b_enc: Float32Array;
  W_dec: Float32Array;
  b_dec: Float32Array;
  threshold?: Float32Array;
  W_logvar?: Float32Array;
  b_logvar?: Float32Array;
  /** a skip transcoder's affine skip path [dOut, d]: x̂ += x·W_skipᵀ (Paulo et al. 2025) */
  W_skip?: Float32Array;
};
export type ParamName = keyof SaeParams;
/** Row norm of a linear layer's default init, uniform ±1/√d per entry: √(d · 1/(3d)) = 1/√3. */
export const LINEAR_INIT_ROW_NORM = 1 / Math.sqrt(3);

/** The four tensors every architecture has. */
export const PARAM_NAMES = ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const;
/** The tensors whose rows (or entries) belong to latents: what a latent split divides. */
export const LATENT_PARAMS: readonly ParamName[] = ['W_enc', 'b_enc', 'W_dec', 'threshold', 'W_logvar', 'b_logvar'];

/** An SAE's configuration (cfg.json; schema and on-disk names in folder.ts). */
export interface SaeConfig {
  format: 'saekit-sae';
  /** a name in src/sae/arch/registry.ts */
  arch: string;
  /** input width d_in */
  d: number;
  /** number of latents */
  n: number;
  /** active latents per token (TopK; the mean for BatchTopK/Matryoshka; 0 where not fixed) */
  k: number;
  /** Matryoshka: nested dictionary sizes, the last = n */
  prefixes?: number[];
  /** transcoder: output width (W_dec [n, dOut], b_dec [dOut]); the input is not centred by b_dec */
  dOut?: number;
  /** trained with the Multi-TopK loss L(k) + L(4k)/8 */
  multiTopK: boolean;
  /** a skip transcoder: W_skip [dOut, d] adds x·W_skipᵀ to the output */
  skip?: boolean;
  /** a cross-layer transcoder (arch clt): the layers side by side in d and dOut; W_enc is
   *  [n, d/layers], latent i reads layer ⌊i/(n/layers)⌋ and its W_dec row is zero before it */
  layers?: number;
  /** a cross-layer transcoder trained with each layer's batch top k or with JumpReLU: it encodes
   *  with its stored thresholds (absent: each row's top k per layer) */
  selection?: 'batch' | 'jumprelu';
  /** the canonical data spec of the training activations */
  data: string;
  /** the encoder GEMM's precision it was trained at, and encodes at by default: bf16 inputs
   *  with f32 accumulation where the CPU has it (absent: f32) */
  precision?: 'f32' | 'bf16';
  /** an imported SAE: where it reads its activations, as its source says */
  origin?: SaeOrigin;
  /** on disk only (cfg.json of a latent split, folder.ts): each rank's weights file and latents */
  shards?: { file: string; latents: [number, number] }[];
}

/** What a published SAE says of its activations (snake_case keys, as on disk). */
export interface SaeOrigin {
  /** the file or hub address it was imported from */
  imported_from: string;
  /** the source's own format: saelens, sparsify, gemmascope */
  format: string;
  model?: string;
  layer?: number;
  /** saekit's site name, where saekit has the hook point */
  site?: string;
  /** TransformerLens's name of the hook point */
  hook_name?: string;
  context_size?: number;
  dataset?: string;
}

export interface Sae {
  cfg: SaeConfig;
  params: SaeParams;
}
