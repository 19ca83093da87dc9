/**
 * Attribution graphs on the replacement model of one prompt (Ameisen et al. 2025, "Circuit
 * Tracing"; docs/design.md §4.7). Nodes: the token embeddings, each active transcoder feature at
 * each layer and position, an error node per layer and position, and the top logits at the last
 * position. With attention patterns and norm denominators frozen and every MLP's output held at
 * the sum of what its nodes write (features a·W_dec[i]; the error node the rest of the clean MLP
 * output: bias, skip path and the transcoder's error), the residual stream is linear in the
 * writes; an edge s → t is the change of t (a feature's pre-activation, a logit) when s's write
 * is removed — the direct effect through the frozen stream and attention, computed exactly by
 * one frozen forward per source. Pruning keeps the nodes with the most influence on the logits
 * (influence propagated through the normalized absolute edge weights, as in the paper).
 */
import type { Backend } from '../compute/backend.js';
import { frozenForward, transcoderFeatures, type MlpFeatures, type Trace } from '../lm/replacement.js';
import type { Transformer } from '../lm/transformer.js';
import type { Sae } from '../sae/common.js';

export type NodeKind = 'embedding' | 'feature' | 'error' | 'logit';

export interface GraphNode {
  id: string;
  kind: NodeKind;
  /** the layer it writes to (features, errors), reads at (features), or −1 (embeddings) / L (logits) */
  layer: number;
  pos: number;
  /** a feature's number in its layer, a logit's token id */
  index?: number;
  /** a feature's latent in its transcoder's folder (a CLT's: layer group × m + index) */
  latent?: number;
  /** a feature's activation, a logit's value, an error's or embedding's norm */
  value: number;
  /** a logit's probability */
  prob?: number;
  /** influence on the logits (what pruning ranks by) */
  influence: number;
}

export interface AttributionGraph {
  tokens: number[];
  nodes: GraphNode[];
  /** [source, target, weight]: node indices, the direct effect of the source's write on the target */
  edges: [number, number, number][];
  /** share of the end-to-end influence on the logits that starts at the embeddings (paths
   *  through features only), not at error nodes */
  replacementScore: number;
  /** share of the incoming (normalized, influence-weighted) edge weight from features and
   *  embeddings rather than error nodes */
  completenessScore: number;
}

interface Source {
  node: number;
  layer: number;
  pos: number;
  /** what it adds to the residual stream [dim] at each layer's MLP output (an embedding: at layer −1) */
  writes: { layer: number; write: Float32Array }[];
}

/**
 * The attribution graph of `trace`'s prompt with MLP features covering every layer (a
 * transcoder per layer, mlp_in → mlp_out, or a cross-layer transcoder). `topLogits`: the most
 * probable next tokens at the last position (and `target` among them if given).
 */
export function attribute(be: Backend, model: Transformer, trace: Trace, features: MlpFeatures | Map<number, Sae>,
  o: { topLogits?: number; target?: number } = {}): AttributionGraph {
  const c = model.config, d = c.dim, T = trace.T, V = c.vocabSize, L = c.nLayers;
  if (features instanceof Map) {
    for (const [l, tc] of features) if (tc.cfg.dOut === undefined || tc.cfg.d !== d || tc.cfg.dOut !== d) throw new Error(`layer ${l}: a transcoder ${d} → ${d} (mlp_in → mlp_out) is needed`);
  }
  const f = features instanceof Map ? transcoderFeatures(be, features) : features;
  for (let l = 0; l < L; l++) if (!f.covers(l)) throw new Error(`attribution needs a transcoder at every layer; layer ${l} has none`);
  const nodes: GraphNode[] = [];
  const sources: Source[] = [];
  const emb = model.embed(trace.tokens, T);
  const norm = (v: Float32Array): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  for (let p = 0; p < T; p++) {
    const write = emb.slice(p * d, (p + 1) * d);
    sources.push({ node: nodes.length, layer: -1, pos: p, writes: [{ layer: -1, write }] });
    nodes.push({ id: `E_${trace.tokens[p]!}_${p}`, kind: 'embedding', layer: -1, pos: p, index: trace.tokens[p]!, value: norm(write), influence: 0 });
  }
  // each layer's active features (targets of earlier writes, sources for later ones), then each
  // layer's error (the rest of its clean MLP output at each position)
  const featureAt = new Map<string, number>();
  const rest = trace.layers.map((t) => t.mlpOut.slice());
  for (let l = 0; l < L; l++) {
    const z = f.code(l, trace.layers[l]!.mlpIn, T);
    for (let p = 0; p < T; p++) {
      for (let e = z.rowPtr[p]!; e < z.rowPtr[p + 1]!; e++) {
        const i = z.idx[e]!, a = z.vals[e]!;
        if (i < 0 || !(a > 0)) continue;
        const writes: Source['writes'] = [];
        for (let t = l; t < L; t++) {
          const dec = f.decoder(l, i, t);
          if (!dec) continue;
          const write = Float32Array.from(dec, (v) => a * v);
          for (let j = 0; j < d; j++) rest[t]![p * d + j]! -= write[j]!;
          writes.push({ layer: t, write });
        }
        featureAt.set(`${l}/${p}/${i}`, nodes.length);
        sources.push({ node: nodes.length, layer: l, pos: p, writes });
        nodes.push({ id: `${l}_${i}_${p}`, kind: 'feature', layer: l, pos: p, index: i, latent: f.latent(l, i), value: a, influence: 0 });
      }
    }
  }
  for (let l = 0; l < L; l++) {
    for (let p = 0; p < T; p++) {
      const write = rest[l]!.slice(p * d, (p + 1) * d);
      sources.push({ node: nodes.length, layer: l, pos: p, writes: [{ layer: l, write }] });
      nodes.push({ id: `err_${l}_${p}`, kind: 'error', layer: l, pos: p, value: norm(write), influence: 0 });
    }
  }
  // the logits at the last position: the most probable, and the target
  const last = trace.logits.subarray((T - 1) * V, T * V);
  const probs = softmax(last);
  const order = [...probs.keys()].sort((a, b) => probs[b]! - probs[a]!);
  const chosen = order.slice(0, o.topLogits ?? 5);
  if (o.target !== undefined && !chosen.includes(o.target)) chosen.push(o.target);
  const logitNode = new Map<number, number>();
  for (const tok of chosen) {
    logitNode.set(tok, nodes.length);
    nodes.push({ id: `L_${tok}_${T - 1}`, kind: 'logit', layer: L, pos: T - 1, index: tok, value: last[tok]!, prob: probs[tok]!, influence: 0 });
  }

  // every MLP output held at the sum of its nodes' writes; the embeddings as given
  const held = Array.from({ length: L }, () => new Float32Array(T * d));
  for (const s of sources) for (const { layer, write } of s.writes) if (layer >= 0) for (let j = 0; j < d; j++) held[layer]![s.pos * d + j]! += write[j]!;
  const measure = (embedding: Float32Array, mlp: Float32Array[]): { pre: Float64Array; logits: Float32Array } => {
    const run = frozenForward(model, trace, (l) => mlp[l]!, { embedding });
    // every feature node's pre-activation on its layer's MLP input in this run
    const pre = new Float64Array(nodes.length);
    for (const [key, n] of featureAt) {
      const [l, p, i] = key.split('/').map(Number) as [number, number, number];
      pre[n] = f.pre(l, i, run.mlpIn[l]!, p);
    }
    return { pre, logits: run.logits.subarray((T - 1) * V, T * V) };
  };
  const base = measure(emb, held);
  const edges: [number, number, number][] = [];
  for (const s of sources) {
    // the run without this source's writes
    const e2 = s.layer < 0 ? emb.slice() : emb;
    const m2 = held.map((h, l) => (s.writes.some((w) => w.layer === l) ? h.slice() : h));
    for (const { layer, write } of s.writes) {
      const into = layer < 0 ? e2 : m2[layer]!;
      for (let j = 0; j < d; j++) into[s.pos * d + j]! -= write[j]!;
    }
    const got = measure(e2, m2);
    for (const [key, n] of featureAt) {
      const [l, p] = key.split('/').map(Number) as [number, number];
      if (l <= s.layer || p < s.pos) continue;
      const w = base.pre[n]! - got.pre[n]!;
      if (w !== 0) edges.push([s.node, n, w]);
    }
    for (const [tok, n] of logitNode) {
      const w = base.logits[tok]! - got.logits[tok]!;
      if (w !== 0) edges.push([s.node, n, w]);
    }
  }
  const { replacementScore, completenessScore } = influence(nodes, edges);
  return { tokens: [...trace.tokens], nodes, edges, replacementScore, completenessScore };
}

function softmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  const out = Float64Array.from(row, (v) => Math.exp(v - max));
  const sum = out.reduce((a, v) => a + v, 0);
  return out.map((v) => v / sum);
}

/** Each node's influence on the logits (the logits weighted by probability, influence passed
 *  back through each target's incoming absolute weights normalized to sum to 1), and the scores. */
function influence(nodes: GraphNode[], edges: [number, number, number][]): { replacementScore: number; completenessScore: number } {
  const incoming = new Map<number, { s: number; w: number }[]>();
  for (const [s, t, w] of edges) {
    const list = incoming.get(t) ?? [];
    list.push({ s, w: Math.abs(w) });
    incoming.set(t, list);
  }
  const totalProb = nodes.reduce((a, n) => a + (n.kind === 'logit' ? n.prob! : 0), 0);
  for (const n of nodes) n.influence = n.kind === 'logit' ? n.prob! / totalProb : 0;
  // targets from the last layer down (logits, then features by descending layer)
  const order = nodes.map((_, i) => i).sort((a, b) => nodes[b]!.layer - nodes[a]!.layer);
  let complete = 0, weightAll = 0;
  for (const t of order) {
    const list = incoming.get(t);
    const infl = nodes[t]!.influence;
    if (!list || infl === 0) continue;
    const sum = list.reduce((a, e) => a + e.w, 0);
    if (sum === 0) continue;
    let fromKnown = 0;
    for (const e of list) {
      nodes[e.s]!.influence += (infl * e.w) / sum;
      if (nodes[e.s]!.kind !== 'error') fromKnown += e.w / sum;
    }
    complete += infl * fromKnown;
    weightAll += infl;
  }
  const start = (kind: NodeKind): number => nodes.reduce((a, n) => a + (n.kind === kind ? n.influence : 0), 0);
  const fromEmbeddings = start('embedding'), fromErrors = start('error');
  return { replacementScore: fromEmbeddings / (fromEmbeddings + fromErrors), completenessScore: weightAll > 0 ? complete / weightAll : 0 };
}

/**
 * The nodes that carry `keep` of the influence on the logits (features and errors ranked by
 * influence; embeddings and logits always kept), and among them the edges that carry `edgeKeep`
 * of the edge influence: an edge's share of its target's incoming |weight| times the target's
 * influence (Ameisen et al.'s node and edge thresholds; edgeKeep 1 keeps every edge).
 */
export function prune(g: AttributionGraph, keep = 0.8, edgeKeep = 1): AttributionGraph {
  const ranked = g.nodes.map((n, i) => ({ n, i })).filter(({ n }) => n.kind === 'feature' || n.kind === 'error').sort((a, b) => b.n.influence - a.n.influence);
  const total = ranked.reduce((a, r) => a + r.n.influence, 0);
  const kept = new Set(g.nodes.map((n, i) => (n.kind === 'embedding' || n.kind === 'logit' ? i : -1)).filter((i) => i >= 0));
  let acc = 0;
  for (const r of ranked) {
    if (acc >= keep * total) break;
    kept.add(r.i);
    acc += r.n.influence;
  }
  const index = new Map([...kept].sort((a, b) => a - b).map((old, i) => [old, i]));
  let edges = g.edges.filter(([s, t]) => index.has(s) && index.has(t));
  if (edgeKeep < 1) {
    const into = new Float64Array(g.nodes.length);
    for (const [, t, w] of g.edges) into[t]! += Math.abs(w);
    const score = (e: [number, number, number]): number => (into[e[1]]! > 0 ? (Math.abs(e[2]) / into[e[1]]!) * g.nodes[e[1]]!.influence : 0);
    const byScore = edges.map((e) => ({ e, s: score(e) })).sort((a, b) => b.s - a.s);
    const sum = byScore.reduce((a, x) => a + x.s, 0);
    let got = 0;
    edges = [];
    for (const x of byScore) {
      if (got >= edgeKeep * sum) break;
      edges.push(x.e);
      got += x.s;
    }
  }
  return {
    ...g,
    nodes: [...index.keys()].map((old) => g.nodes[old]!),
    edges: edges.map(([s, t, w]) => [index.get(s)!, index.get(t)!, w]),
  };
}

/** The change of node `target` when feature `source` is set to `value` (0: zeroed), through every
 *  path of the graph: the source's activation moves to `value`, and each later feature's activation moves by Σ edge ×
 *  (its source's change / that source's activation) — linear, as the frozen model is, while the
 *  top k keeps the same features. */
export function pathEffect(g: AttributionGraph, source: number, target: number, value = 0): number {
  const change = new Float64Array(g.nodes.length);
  change[source] = value - g.nodes[source]!.value;
  const bySource = new Map<number, [number, number][]>();
  for (const [s, t, w] of g.edges) bySource.set(s, [...(bySource.get(s) ?? []), [t, w]]);
  const order = g.nodes.map((_, i) => i).filter((i) => g.nodes[i]!.layer >= g.nodes[source]!.layer).sort((a, b) => g.nodes[a]!.layer - g.nodes[b]!.layer);
  for (const s of order) {
    if (change[s] === 0 || g.nodes[s]!.kind !== 'feature') continue;
    for (const [t, w] of bySource.get(s) ?? []) change[t]! += (w * change[s]!) / g.nodes[s]!.value;
  }
  return change[target]!;
}
