/**
 * Every layer in one pass (`saekit train --layers all|L,L,...`, docs/design.md §4.7): one SAE
 * or transcoder per layer of a live model, each a run folder of its own (OUT/layer-L: config,
 * checkpoints, --resume, report), trained side by side in one process over one model forward
 * per batch of contexts (SharedForward): the model runs once per batch, not once per layer.
 */
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { openSharedLm, type LmActivations } from '../data/lm.js';
import { formatDataSpec, parseDataSpec, shuffled } from '../data/spec.js';
import { trainAndReport, type TrainJob, type TrainJobResult } from './train.js';

/** --layers as given: "all" or a comma list of layer indices. */
export function parseLayers(given: string): number[] | 'all' {
  if (given === 'all') return 'all';
  const layers = given.split(',').map((v) => Number(v.trim()));
  if (!layers.length || layers.some((l) => !Number.isInteger(l) || l < 0)) throw new Error(`--layers ${given}: expected "all" or layer indices such as 0,2,4`);
  if (new Set(layers).size !== layers.length) throw new Error(`--layers ${given}: a layer is named twice`);
  return layers;
}

export interface LayerResult {
  layer: number;
  out: string;
  result?: TrainJobResult;
  error?: Error;
}

/** Trains one run per layer; a layer that fails does not stop the others (its error is returned). */
export async function trainLayers(be: Backend, job: TrainJob, given: number[] | 'all'): Promise<LayerResult[]> {
  const data = job.settings.data;
  const spec = typeof data === 'string' ? parseDataSpec(data) : null;
  if (!spec || spec.kind !== 'lm') throw new Error(`--layers trains on a live model's layers: --data must be lm:model=...,corpus=...,site=... (got ${String(data)})`);
  const lm = await openSharedLm(spec.lm, be, given === 'all' ? 'all' : given);
  const runs = lm.shared.layers.map(async (layer): Promise<LayerResult> => {
    const out = join(job.out, `layer-${layer}`);
    const layerSpec = { kind: 'lm' as const, lm: { ...spec.lm, layer } };
    let stream: LmActivations | null = null;
    try {
      const result = await trainAndReport(be, {
        ...job, out, label: `layer ${layer}`, settings: { ...job.settings, data: formatDataSpec(layerSpec) },
        // the training stream (shuffled as its data spec asks), then the init sample's reader
        source: (cfg) => {
          if (stream) return lm.open(layer, false);
          stream = lm.open(layer);
          return shuffled(stream, layerSpec, cfg.shuffle, cfg.seed);
        },
      });
      return { layer, out, result };
    } catch (err) {
      return { layer, out, error: err as Error };
    } finally {
      if (stream) lm.shared.untrack(stream);
    }
  });
  return Promise.all(runs);
}
