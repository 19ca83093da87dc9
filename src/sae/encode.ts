/**
 * Inference for every architecture: the code z (CSR) and the reconstruction of rows x [B, d],
 * by the SAE's own architecture (docs/design.md §4). With `next`, k-sparse codes also give
 * each row's (k+1)-th pre-activation, from the same pass.
 */
import type { Backend } from '../compute/backend.js';
import { architecture } from './arch/registry.js';
import type { EncodeOptions, Encoded } from './arch/types.js';
import type { Sae } from './common.js';

export type { Encoded, EncodeOptions };

/** Encodes and decodes x [B, d]; returns z (CSR over B rows), recon [B, dOut], next? [B]. */
export function encode(be: Backend, sae: Sae, x: Float32Array, B: number, o: EncodeOptions = {}): Encoded {
  return architecture(sae.cfg.arch, 'cfg.json arch').encode(be, sae, x, B, o);
}
