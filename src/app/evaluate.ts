/**
 * Evaluating a trained SAE (`saekit eval`): on given data by the held-out rule, or with a
 * model, on the model's held-out contexts plus the downstream CE/KL with the SAE spliced in.
 * The model's origin (corpus, layer, site, packing) comes from the SAE's training data unless
 * flags say otherwise. One process loads the model and packs the corpus once.
 */
import type { Backend } from '../compute/backend.js';
import { MemorySource } from '../data/memory.js';
import { openLmSource, type LmSpec } from '../data/lm.js';
import type { ActivationSource } from '../data/source.js';
import { dataOrigin, evaluationData, formatSite, lmSpecFromOrigin, openData, originSite, parseDataSpec, siteOf, type DataSite } from '../data/spec.js';
import { downstreamEval, type DownstreamResult } from '../eval/downstream.js';
import { evaluateSae, type EvalResult } from '../eval/metrics.js';
import type { ShardOrigin } from '../data/shards.js';
import { SITES, type Site } from '../lm/transformer.js';
import type { Sae } from '../sae/common.js';

export interface EvalJob {
  /** activations (by the held-out rule); required unless model is given */
  data?: string;
  /** a language model: evaluate on its activations and splice the SAE in */
  model?: Partial<LmSpec> & { model: string };
  /** contexts for the downstream CE evaluation */
  contexts: number;
  tokens: number;
  batch: number;
  /** print progress of the downstream pass */
  progress?: boolean;
}

export interface EvalJobResult {
  source: ActivationSource;
  result: EvalResult;
  downstream?: DownstreamResult;
  /** set when the evaluation reads another layer or site than the SAE was trained on */
  siteMismatch?: string;
}

/** Where an SAE's activations come from, as much as it says: an imported SAE's record (model,
 *  layer, site, context; its dataset is not a local corpus), else its training data's origin
 *  (null for synthetic data and shard folders no longer on disk). */
export function saeOrigin(sae: Sae): ShardOrigin | null {
  const o = sae.cfg.origin;
  if (o) {
    return {
      ...(o.model ? { model: o.model } : {}), ...(o.layer !== undefined ? { layer: o.layer } : {}),
      ...(o.site && (SITES as readonly string[]).includes(o.site) ? { site: o.site as Site } : {}), ...(o.context_size ? { ctx: o.context_size } : {}),
    };
  }
  try {
    return sae.cfg.data ? dataOrigin(parseDataSpec(sae.cfg.data)) : null;
  } catch {
    return null;
  }
}

export async function evaluateJob(be: Backend, sae: Sae, job: EvalJob): Promise<EvalJobResult> {
  let source: ActivationSource;
  let downstream: DownstreamResult | undefined;
  let evalSite: DataSite | null = null;
  const origin = saeOrigin(sae);
  if (job.model) {
    const spec = lmSpecFromOrigin(origin, { ...job.model, from: 'end' }, sae.cfg.data || sae.cfg.origin?.imported_from || 'of the SAE');
    evalSite = { model: spec.model, layer: spec.layer, site: spec.site };
    const lm = await openLmSource({ ...spec, tokens: Math.max(job.tokens, job.contexts * spec.ctx) }, be);
    downstream = downstreamEval(be, sae, lm, job.contexts, Boolean(job.progress));
    source = await openLmSource({ ...spec, tokens: job.tokens }, be);
  } else {
    if (!job.data) throw new Error('--data is required unless --model is given');
    const { spec } = evaluationData(job.data, job.tokens, false);
    evalSite = siteOf(spec);
    source = await openData(spec, be);
  }
  const result = evaluateSae(be, sae, source, job.tokens, job.batch);
  const own = originSite(origin);
  const siteMismatch = own && evalSite && (own.layer !== evalSite.layer || own.site !== evalSite.site)
    ? `evaluated on ${formatSite(evalSite)}, but the SAE was trained on ${formatSite(own)}` : undefined;
  return { source, result, ...(downstream ? { downstream } : {}), ...(siteMismatch ? { siteMismatch } : {}) };
}

/** Held-out rows in memory, for comparing several SAEs on exactly the same tokens (analyze
 *  scales, stitch); `data` by the held-out rule. */
export async function heldRows(be: Backend, data: string, tokens: number): Promise<MemorySource> {
  return MemorySource.take(await openData(evaluationData(data, tokens, false).spec, be), tokens);
}
