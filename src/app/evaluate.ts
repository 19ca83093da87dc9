/**
 * Evaluating a trained SAE (`saekit eval`): on given data by the held-out rule, or with a
 * model, on the model's held-out contexts plus the downstream CE/KL with the SAE spliced in.
 * The model's origin (corpus, layer, site, packing) comes from the SAE's training data unless
 * flags say otherwise. One process loads the model and packs the corpus once.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { MemorySource } from '../data/memory.js';
import { openLmSource, type LmActivations, type LmSpec } from '../data/lm.js';
import type { ActivationSource } from '../data/source.js';
import { dataOrigin, evaluationData, formatSite, lmSpecFromOrigin, openData, originSite, parseDataSpec, siteOf, type DataSite } from '../data/spec.js';
import { downstreamEval, type DownstreamResult, type Splice } from '../eval/downstream.js';
import { evaluateSae, type EvalResult } from '../eval/metrics.js';
import type { ShardOrigin } from '../data/shards.js';
import { SITES, type Site } from '../lm/transformer.js';
import type { Sae } from '../sae/common.js';
import { hasSaeWeights, loadSae } from '../sae/folder.js';

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
    const asked = lmSpecFromOrigin(origin, { ...job.model, from: 'end' }, sae.cfg.data || sae.cfg.origin?.imported_from || 'of the SAE');
    // a cross-layer transcoder reads every layer it spans side by side
    const spec = sae.cfg.layers ? { ...asked, stack: 1 } : asked;
    evalSite = { model: spec.model, layer: spec.layer, site: spec.site };
    downstream = downstreamEval(be, sae, await downstreamContexts(be, spec, job.contexts), job.contexts, Boolean(job.progress));
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

/** The contexts downstream CE is measured on: the corpus's last `contexts` ones (spec from=end),
 *  the same for one SAE, a --layers folder and a cross-layer transcoder. */
function downstreamContexts(be: Backend, spec: LmSpec, contexts: number): Promise<LmActivations> {
  return openLmSource({ ...spec, tokens: contexts * spec.ctx }, be);
}

/** Held-out rows in memory, for comparing several SAEs on exactly the same tokens (analyze
 *  scales, stitch); `data` by the held-out rule. */
export async function heldRows(be: Backend, data: string, tokens: number): Promise<MemorySource> {
  return MemorySource.take(await openData(evaluationData(data, tokens, false).spec, be), tokens);
}

/** The run folders a `--layers` job wrote (OUT/layer-L holding an SAE), by layer; empty when
 *  `dir` is not such a folder. */
export function layerRuns(dir: string): { layer: number; dir: string }[] {
  if (!existsSync(dir) || existsSync(join(dir, 'cfg.json'))) return [];
  return readdirSync(dir).map((f) => /^layer-(\d+)$/.exec(f)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ layer: Number(m[1]), dir: join(dir, m[0]) })).filter((r) => hasSaeWeights(r.dir)).sort((a, b) => a.layer - b.layer);
}

export interface LayersEvalResult {
  /** each layer's SAE or transcoder spliced in alone */
  alone: { layer: number; run: string; downstream: DownstreamResult }[];
  /** all of them spliced in together (transcoders at every layer: the replacement model
   *  without error terms) */
  together: DownstreamResult;
}

/** Downstream CE and KL of a --layers job's runs, each alone and all spliced in together, on
 *  the model's held-out contexts (the corpus's last ones, as the runs' own data say). */
export async function evaluateLayers(be: Backend, runs: { layer: number; dir: string }[], job: Omit<EvalJob, 'data'> & { model: Partial<LmSpec> & { model: string } }): Promise<LayersEvalResult> {
  if (!runs.length) throw new Error('no layer-L run folders to evaluate');
  const splices: Splice[] = [];
  let spec: LmSpec | null = null;
  for (const r of runs) {
    const sae = loadSae(r.dir);
    const own = lmSpecFromOrigin(saeOrigin(sae), { ...job.model, layer: r.layer, from: 'end' }, sae.cfg.data || r.dir);
    if (spec && (own.corpus !== spec.corpus || own.ctx !== spec.ctx || own.site !== spec.site)) {
      throw new Error(`${r.dir} was trained on ${own.corpus} at ${own.site} (ctx ${own.ctx}), the other layers on ${spec.corpus} at ${spec.site} (ctx ${spec.ctx}): evaluate them apart`);
    }
    spec ??= own;
    if (sae.cfg.dOut !== undefined && !own.targetSite) throw new Error(`${r.dir}: a transcoder whose data names no target site`);
    splices.push({ sae, layer: r.layer, site: own.site, ...(sae.cfg.dOut !== undefined ? { target: own.targetSite } : {}) });
  }
  const lm = await downstreamContexts(be, spec!, job.contexts);
  const alone = splices.map((sp, i) => ({ layer: sp.layer, run: runs[i]!.dir, downstream: downstreamEval(be, [sp], lm, job.contexts) }));
  return { alone, together: downstreamEval(be, splices, lm, job.contexts, Boolean(job.progress)) };
}
