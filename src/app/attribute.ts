/**
 * `saekit attribute`: the attribution graph of a prompt on a --layers folder of transcoders or a
 * cross-layer transcoder (src/analysis/attribution.ts), pruned and written as JSON in circuit-tracer's frontend layout
 * (metadata, nodes, links), and optionally one intervention on it: a feature zeroed in the
 * replacement model (error terms kept, later features recomputed), its measured effect on the
 * target logit beside the graph's direct edge.
 */
import type { Backend } from '../compute/backend.js';
import { attribute, pathEffect, prune, type AttributionGraph, type GraphNode } from '../analysis/attribution.js';
import { loadLm } from '../lm/load.js';
import { cltFeatures, frozenForward, replacementMlps, traceForward, transcoderFeatures, type MlpFeatures } from '../lm/replacement.js';
import { parseDataSpec } from '../data/spec.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import { hasSaeWeights, loadSae } from '../sae/folder.js';
import { layerRuns } from './evaluate.js';

export interface AttributeJob {
  model: string;
  transcoders: string;
  prompt: string;
  /** the logit to explain: a token's text (one token) or id; default the most probable */
  target?: string;
  topLogits: number;
  /** cumulative influence the pruned graph keeps: of the nodes, and of the edges among them */
  keep: number;
  edgeKeep?: number;
  /** an intervention in the replacement model: a feature node (LAYER_LATENT_POS) set to a value
   *  (0: ablated; a multiple of its activation: steered) */
  intervene?: { node: string; value: number };
}

export interface AttributeResult {
  json: Record<string, unknown>;
  full: { nodes: number; edges: number };
  graph: AttributionGraph;
  target: GraphNode;
  /** the target logit's change: measured in the replacement model, predicted by the direct edge
   *  and by every path of the graph (features downstream changing linearly with their inputs) */
  ablation?: { node: string; from: number; to: number; predicted: number; throughGraph: number; measured: number };
}

export async function attributePrompt(be: Backend, job: AttributeJob): Promise<AttributeResult> {
  const { features: transcoders, folderOf } = mlpFeaturesIn(be, job.transcoders);
  const { model, tokenizer } = await loadLm(job.model, be);
  const tokens = Int32Array.from([tokenizer.bos, ...tokenizer.encode(job.prompt)]);
  const target = job.target === undefined ? undefined : tokenOf(tokenizer, job.target);
  const trace = traceForward(model, tokens);
  const full = attribute(be, model, trace, transcoders, { topLogits: job.topLogits, ...(target !== undefined ? { target } : {}) });
  const graph = prune(full, job.keep, job.edgeKeep ?? 1);
  const logits = graph.nodes.filter((n) => n.kind === 'logit');
  const tnode = target !== undefined ? logits.find((n) => n.index === target)! : logits.reduce((a, n) => (n.prob! > a.prob! ? n : a));
  let ablation: AttributeResult['ablation'];
  if (job.intervene) {
    const { node, value } = job.intervene;
    const fi = full.nodes.findIndex((n) => n.kind === 'feature' && n.id === node);
    if (fi < 0) throw new Error(`${node}: no active feature node of that id (LAYER_LATENT_POS) in the graph`);
    const f = full.nodes[fi]!;
    const ti = full.nodes.findIndex((n) => n.id === tnode.id);
    // the edge is the effect of the feature's whole activation: a change to `value` scales it
    const predicted = ((full.edges.find(([s, t]) => s === fi && t === ti)?.[2] ?? 0) * (value - f.value)) / f.value;
    const V = model.config.vocabSize, T = trace.T;
    const logitOf = (mlp: ReturnType<typeof replacementMlps>) => frozenForward(model, trace, mlp).logits[(T - 1) * V + tnode.index!]!;
    const base = logitOf(replacementMlps(be, trace, transcoders));
    const zeroed = logitOf(replacementMlps(be, trace, transcoders, (l, acts, idx, rowPtr) => {
      if (l === f.layer) for (let e = rowPtr[f.pos]!; e < rowPtr[f.pos + 1]!; e++) if (idx[e] === f.index) acts[e] = value;
    }));
    ablation = { node: f.id, from: f.value, to: value, predicted, throughGraph: pathEffect(full, fi, ti, value), measured: zeroed - base };
  }
  const text = (id: number): string => tokenizer.decode([id]);
  const json = {
    metadata: {
      format: 'saekit-attribution-graph', scan: job.model, transcoders: job.transcoders, prompt: job.prompt,
      prompt_tokens: [...tokens].map(text), target: tnode.id,
      replacement_score: full.replacementScore, completeness_score: full.completenessScore,
      full_graph: { nodes: full.nodes.length, links: full.edges.length }, node_threshold: job.keep, edge_threshold: job.edgeKeep ?? 1,
    },
    nodes: graph.nodes.map((n) => ({
      node_id: n.id, feature: n.index ?? null, layer: n.kind === 'embedding' ? 'E' : n.kind === 'logit' ? String(n.layer) : n.layer,
      ctx_idx: n.pos, feature_type: { embedding: 'embedding', feature: 'cross layer transcoder', error: 'mlp reconstruction error', logit: 'logit' }[n.kind],
      ...(n.kind === 'feature' ? { sae: folderOf(n.layer), latent: n.latent } : {}),
      activation: n.value, influence: n.influence, ...(n.kind === 'logit' ? { token_prob: n.prob, is_target_logit: n.id === tnode.id, clerp: text(n.index!) } : {}),
      ...(n.kind === 'embedding' ? { clerp: text(n.index!) } : {}),
    })),
    links: graph.edges.map(([s, t, w]) => ({ source: graph.nodes[s]!.id, target: graph.nodes[t]!.id, weight: w })),
  };
  return { json, full: { nodes: full.nodes.length, edges: full.edges.length }, graph, target: tnode, ...(ablation ? { ablation } : {}) };
}

/**
 * The MLP features in a --transcoders folder: the --out of saekit train --layers (a transcoder
 * per layer-L folder) or a cross-layer transcoder's folder (arch clt; it starts at the layer of
 * its data spec). folderOf(l): the folder holding layer l's features, relative to the given one.
 */
export function mlpFeaturesIn(be: Backend, dir: string): { features: MlpFeatures; folderOf(layer: number): string } {
  if (hasSaeWeights(dir)) {
    const sae = loadSae(dir);
    if (sae.cfg.arch !== 'clt') throw new Error(`--transcoders ${dir}: one ${sae.cfg.arch} SAE; expected the --out of saekit train --layers (layer-L folders of transcoders) or a cross-layer transcoder (--arch clt)`);
    const spec = parseDataSpec(sae.cfg.data, `${dir}/cfg.json data`);
    return { features: cltFeatures(be, sae, spec.kind === 'lm' ? spec.lm.layer : 0), folderOf: () => '.' };
  }
  const runs = layerRuns(dir);
  if (!runs.length) throw new Error(`--transcoders ${dir}: expected the --out of saekit train --layers (layer-L folders of transcoders) or a cross-layer transcoder (--arch clt)`);
  return { features: transcoderFeatures(be, new Map(runs.map((r) => [r.layer, loadSae(r.dir)]))), folderOf: (l) => `layer-${l}` };
}

/** A target given as a token id or as text that is exactly one token. */
function tokenOf(tokenizer: Tokenizer, given: string): number {
  if (/^\d+$/.test(given)) return Number(given);
  const ids = tokenizer.encode(given, true);
  if (ids.length !== 1) throw new Error(`--target "${given}" is ${ids.length} tokens (${ids.join(', ')}); give one token's text or its id`);
  return ids[0]!;
}
