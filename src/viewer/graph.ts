/**
 * An attribution graph drawn (`saekit attribute --svg`, and the viewer's graph page under
 * `saekit serve … --graph FILE`): prompt positions on x, layers on y (embeddings at the bottom,
 * logits at the top), a node's area by its influence, the strongest edges drawn with width by
 * |weight| (blue: raises the target, red: lowers it). On the page each feature node links to
 * its latent's page in the viewer of the transcoder that holds it.
 */
import { z } from 'zod';
import { readJsonFile } from '../io/json.js';

const JsonNode = z.object({
  node_id: z.string(), layer: z.union([z.number(), z.string()]), ctx_idx: z.number().int().min(0), feature_type: z.string(), influence: z.number(),
  activation: z.number().optional(), clerp: z.string().optional(), token_prob: z.number().optional(),
  /** a feature's transcoder folder (relative to the --transcoders folder) and its latent there */
  sae: z.string().optional(), latent: z.number().int().min(0).optional(),
});
type JsonNode = z.infer<typeof JsonNode>;
const GraphJson = z.object({
  metadata: z.object({ prompt_tokens: z.array(z.string()), target: z.string(), replacement_score: z.number(), completeness_score: z.number().optional(), prompt: z.string().optional() }),
  nodes: z.array(JsonNode),
  links: z.array(z.object({ source: z.string(), target: z.string(), weight: z.number() })),
});
export type GraphJson = z.infer<typeof GraphJson>;

/** A graph JSON written by saekit attribute, validated; errors name the file and the field. */
export function readGraphJson(path: string): GraphJson {
  const got = GraphJson.safeParse(readJsonFile(path));
  if (!got.success) {
    const issue = got.error.issues[0]!;
    throw new Error(`${path}: not an attribution graph of saekit attribute: ${issue.path.join('.') || 'the file'}: ${issue.message}`);
  }
  return got.data;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Where a feature node's latent page is (null: no page, e.g. its transcoder is not indexed). */
export type NodeHref = (n: JsonNode) => string | null;

export function graphSvg(g: GraphJson, o: { maxEdges?: number; href?: NodeHref } = {}): string {
  const maxEdges = o.maxEdges ?? 400;
  const T = g.metadata.prompt_tokens.length;
  const layers = g.nodes.filter((n) => n.feature_type === 'cross layer transcoder' || n.feature_type === 'mlp reconstruction error').map((n) => Number(n.layer));
  const L = Math.max(0, ...layers) + 1;
  const colW = 64, rowH = 70, left = 70, top = 40, W = left + T * colW + 20, H = top + (L + 2) * rowH + 60;
  const row = (n: JsonNode): number => (n.feature_type === 'embedding' ? -1 : n.feature_type === 'logit' ? L : Number(n.layer));
  // nodes sharing a cell spread across it
  const cells = new Map<string, JsonNode[]>();
  for (const n of g.nodes) {
    const key = `${row(n)}/${n.ctx_idx}`;
    cells.set(key, [...(cells.get(key) ?? []), n]);
  }
  const at = new Map<string, { x: number; y: number }>();
  for (const list of cells.values()) {
    list.sort((a, b) => b.influence - a.influence);
    // logits (all at the last position) spread leftwards wide enough for their labels
    const logits = list[0]!.feature_type === 'logit';
    list.forEach((n, i) => {
      const spread = logits ? 56 * (list.length - 1) : Math.min(colW - 12, 6 * (list.length - 1));
      const x = left + n.ctx_idx * colW + colW / 2 + (list.length > 1 ? (logits ? -spread : -spread / 2) + (spread * i) / (list.length - 1) : 0);
      at.set(n.node_id, { x, y: top + (L - row(n)) * rowH + rowH / 2 });
    });
  }
  const links = [...g.links].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, maxEdges);
  const wMax = Math.max(1e-12, ...links.map((l) => Math.abs(l.weight)));
  const iMax = Math.max(1e-12, ...g.nodes.map((n) => n.influence));
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  out.push(`<text x="${left}" y="20" font-size="13">attribution graph: target ${esc(g.metadata.target)}, replacement score ${g.metadata.replacement_score.toFixed(3)}; ${g.nodes.length} nodes, strongest ${links.length} of ${g.links.length} edges</text>`);
  for (let r = -1; r <= L; r++) {
    const y = top + (L - r) * rowH + rowH / 2;
    out.push(`<text x="8" y="${y + 4}">${r === -1 ? 'embed' : r === L ? 'logits' : `layer ${r}`}</text>`, `<line x1="${left}" x2="${W - 10}" y1="${y}" y2="${y}" stroke="#eee"/>`);
  }
  g.metadata.prompt_tokens.forEach((tok, p) => out.push(`<text x="${left + p * colW + colW / 2}" y="${H - 30}" text-anchor="middle">${esc(JSON.stringify(tok).slice(1, -1))}</text>`));
  for (const l of links) {
    const a = at.get(l.source), b = at.get(l.target);
    if (!a || !b) continue;
    const w = 0.3 + (4 * Math.abs(l.weight)) / wMax;
    out.push(`<line x1="${a.x.toFixed(1)}" y1="${a.y.toFixed(1)}" x2="${b.x.toFixed(1)}" y2="${b.y.toFixed(1)}" stroke="${l.weight > 0 ? '#2563eb' : '#dc2626'}" stroke-opacity="0.45" stroke-width="${w.toFixed(2)}"/>`);
  }
  for (const n of g.nodes) {
    const p = at.get(n.node_id)!, r = 2.5 + 7 * Math.sqrt(n.influence / iMax);
    const fill = n.feature_type === 'mlp reconstruction error' ? '#9ca3af' : n.feature_type === 'logit' ? '#16a34a' : n.feature_type === 'embedding' ? '#f59e0b' : '#7c3aed';
    const label = n.feature_type === 'logit' ? `${esc(n.clerp ?? '')} ${(n.token_prob ?? 0).toFixed(2)}` : '';
    const title = `${n.node_id}${n.activation !== undefined ? ` activation ${n.activation.toPrecision(4)}` : ''} influence ${n.influence.toFixed(4)}`;
    const circle = `<circle cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="${r.toFixed(1)}" fill="${fill}"${n.node_id === g.metadata.target ? ' stroke="black" stroke-width="2"' : ''}><title>${esc(title)}</title></circle>`;
    const href = n.feature_type === 'cross layer transcoder' ? o.href?.(n) ?? null : null;
    out.push(href ? `<a href="${esc(href)}" target="_top">${circle}</a>` : circle);
    if (label) out.push(`<text x="${p.x.toFixed(1)}" y="${(p.y - r - 4).toFixed(1)}" text-anchor="middle">${label}</text>`);
  }
  out.push(`<text x="${left}" y="${H - 10}">purple: transcoder features; grey: error nodes; orange: token embeddings; green: logits (area by influence on the logits)</text>`, '</svg>');
  return out.join('\n');
}

/** The viewer's graph page: the prompt, the target and the scores, the graph with each feature
 *  linked to its latent's page, and the most influential features as a table with the same links. */
export function graphPage(g: GraphJson, href: NodeHref): string {
  const features = g.nodes.filter((n) => n.feature_type === 'cross layer transcoder').sort((a, b) => b.influence - a.influence).slice(0, 40);
  const row = (n: JsonNode): string => {
    const h = href(n), id = h ? `<a href="${esc(h)}">${esc(n.node_id)}</a>` : esc(n.node_id);
    return `<tr><td>${id}</td><td>${esc(String(n.layer))}</td><td>${n.ctx_idx} ${esc(JSON.stringify(g.metadata.prompt_tokens[n.ctx_idx] ?? ''))}</td><td>${(n.activation ?? 0).toPrecision(4)}</td><td>${n.influence.toFixed(4)}</td><td>${h ? '' : 'not indexed'}</td></tr>`;
  };
  return `<!doctype html><html><head><meta charset="utf-8"><title>saekit attribution graph</title>
<style>body{font-family:sans-serif;margin:16px}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}.svg{overflow-x:auto}</style></head><body>
<h2>Attribution graph</h2>
<p>prompt ${esc(JSON.stringify(g.metadata.prompt ?? g.metadata.prompt_tokens.join('')))}; target ${esc(g.metadata.target)};
replacement score ${g.metadata.replacement_score.toFixed(3)}${g.metadata.completeness_score !== undefined ? `, completeness ${g.metadata.completeness_score.toFixed(3)}` : ''};
${g.nodes.length} nodes, ${g.links.length} edges. Click a feature (purple) to open its latent.</p>
<div class="svg">${graphSvg(g, { href })}</div>
<h3>Most influential features</h3>
<table><tr><th>node</th><th>layer</th><th>position</th><th>activation</th><th>influence</th><th></th></tr>${features.map(row).join('')}</table>
</body></html>`;
}
