/**
 * A cross-layer transcoder in circuit-tracer's layout (docs/design.md §6.3): a folder with
 *   W_enc_{l}.safetensors   W_enc_{l} [m, d], b_enc_{l} [m], b_dec_{l} [d]
 *   W_dec_{l}.safetensors   W_dec_{l} [m, S − l, d]   (layer l's features to layers l..S−1)
 *   config.yaml             model_name, model_kind: cross_layer_transcoder, feature_input_hook,
 *                           feature_output_hook
 * for l = 0..S−1 (circuit-tracer infers the sizes from the shapes). circuit-tracer applies
 * JumpReLU where threshold_{l} [m] is present, else ReLU. A CLT trained with JumpReLU or with
 * each layer's batch top k encodes with its stored thresholds, so it is written with
 * threshold_{l} and reads the same there; one trained with each row's top k keeps a top k circuit-tracer does not apply:
 * config.yaml records it as saekit_top_k, and a reader that ignores it fires more features.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseDataSpec } from '../data/spec.js';
import { writeFileAtomic } from '../io/atomic.js';
import { writeSafetensors } from '../io/safetensors.js';
import { cltDimsOf } from '../sae/arch/clt.js';
import type { Sae } from '../sae/common.js';
import { hookSuffix } from './hooks.js';

export function exportCircuitTracer(sae: Sae, dir: string, o: { modelName?: string } = {}): void {
  if (sae.cfg.arch !== 'clt') throw new Error(`circuit-tracer's layout holds cross-layer transcoders; this SAE is ${sae.cfg.arch} (export it to SAELens or sparsify instead)`);
  const { S, dm, m } = cltDimsOf(sae.cfg), w = S * dm, p = sae.params;
  const spec = parseDataSpec(sae.cfg.data, 'cfg.json data');
  const lm = spec.kind === 'lm' ? spec.lm : null;
  const thresholds = sae.cfg.selection !== undefined;
  mkdirSync(dir, { recursive: true });
  for (let l = 0; l < S; l++) {
    writeSafetensors(join(dir, `W_enc_${l}.safetensors`), {
      [`W_enc_${l}`]: { dtype: 'F32', shape: [m, dm], data: p.W_enc.subarray(l * m * dm, (l + 1) * m * dm) },
      [`b_enc_${l}`]: { dtype: 'F32', shape: [m], data: p.b_enc.subarray(l * m, (l + 1) * m) },
      [`b_dec_${l}`]: { dtype: 'F32', shape: [dm], data: p.b_dec.subarray(l * dm, (l + 1) * dm) },
      ...(thresholds ? { [`threshold_${l}`]: { dtype: 'F32' as const, shape: [m], data: p.threshold!.subarray(l * m, (l + 1) * m) } } : {}),
    }, { format: 'pt' });
    // each latent's decoder from its own layer on: its row's blocks l..S−1, contiguous
    const dec = new Float32Array(m * (S - l) * dm);
    for (let i = 0; i < m; i++) dec.set(p.W_dec.subarray((l * m + i) * w + l * dm, (l * m + i + 1) * w), i * (S - l) * dm);
    writeSafetensors(join(dir, `W_dec_${l}.safetensors`), { [`W_dec_${l}`]: { dtype: 'F32', shape: [m, S - l, dm], data: dec } }, { format: 'pt' });
  }
  const yaml = [
    `model_name: ${JSON.stringify(o.modelName ?? lm?.model ?? '')}`,
    'model_kind: cross_layer_transcoder',
    `feature_input_hook: ${hookSuffix(lm?.site ?? 'mlp_in')}`,
    `feature_output_hook: ${hookSuffix(lm?.targetSite ?? 'mlp_out')}`,
    ...(thresholds ? [] : [`saekit_top_k: ${sae.cfg.k}`]),
    `saekit_first_layer: ${lm?.layer ?? 0}`,
  ];
  writeFileAtomic(join(dir, 'config.yaml'), yaml.map((line) => `${line}\n`));
}
