/**
 * The viewer's live model (`saekit serve` when the SAE's model is known): typed text run
 * through the model to the SAE's site and encoded, per token; and a greedy continuation of a
 * prompt with and without a latent steered. Bounded: text of at most LIVE_CHARS characters and
 * the model's context, continuations of at most LIVE_STEPS tokens.
 */
import type { Backend } from '../compute/backend.js';
import { generate } from '../lm/generate.js';
import { loadLm } from '../lm/load.js';
import { SITES, type Hook, type Site } from '../lm/transformer.js';
import { parseDataSpec } from '../data/spec.js';
import { cltDimsOf } from '../sae/arch/clt.js';
import type { Sae } from '../sae/common.js';
import { encode } from '../sae/encode.js';
import type { ViewerSide } from '../viewer/server.js';
import { interventionHook, noInterventions, saeSiteOf } from './steer.js';

export const LIVE_CHARS = 600;
export const LIVE_TOKENS = 128;
export const LIVE_STEPS = 48;

export interface LiveText {
  tokens: string[];
  /** per token, the most active latents, strongest first */
  top: { id: number; act: number }[][];
  /** per token, the asked latent's activation */
  latent?: number[];
}

export interface LiveModel {
  /** what is run: the model, layer and site */
  describe: string;
  text(text: string, latent?: number, topK?: number): LiveText;
  steer(prompt: string, latent: number, scale: number, steps: number): { plain: string; steered: string };
}

export async function openLive(be: Backend, sae: Sae, at: { model: string; layer: number; site: Site; tokenizer?: string }): Promise<LiveModel> {
  const { model, tokenizer } = await loadLm(at.model, be, at.tokenizer);
  // a cross-layer transcoder reads its site at `layers` layers from at.layer, side by side
  const span = sae.cfg.layers ?? 1, d = sae.cfg.d, dm = d / span;
  const layers = span > 1 ? `layers ${at.layer}..${at.layer + span - 1}` : `layer ${at.layer}`;
  if (model.config.dim !== dm) throw new Error(`the SAE reads width ${dm}${span > 1 ? ` at each of ${span} layers` : ''}, ${at.model}'s ${at.site} has ${model.config.dim}`);
  if (at.layer + span > model.config.nLayers) throw new Error(`the SAE reads ${layers}, ${at.model} has ${model.config.nLayers}`);
  return {
    describe: `${at.model} ${layers} ${at.site}`,
    text(text, latent, topK = 5) {
      if (text.length > LIVE_CHARS) throw new RangeError(`text: at most ${LIVE_CHARS} characters, got ${text.length}`);
      const ids = [tokenizer.bos, ...tokenizer.encode(text)].slice(0, Math.min(LIVE_TOKENS, model.config.maxSeqLen));
      const rows = new Float32Array(ids.length * d);
      model.forward(Int32Array.from(ids), 1, {
        lastLayer: at.layer + span - 1,
        hook: (l, site, x) => {
          if (site !== at.site || l < at.layer || l >= at.layer + span) return;
          for (let r = 0; r < ids.length; r++) rows.set(x.subarray(r * dm, (r + 1) * dm), r * d + (l - at.layer) * dm);
        },
      });
      const { z } = encode(be, sae, rows, ids.length);
      const out: LiveText = { tokens: [], top: [], ...(latent !== undefined ? { latent: [] } : {}) };
      // the BOS row is not shown (attention sinks have outsized norms)
      for (let r = 1; r < ids.length; r++) {
        out.tokens.push(tokenizer.piece(ids[r]!, ids[r - 1]));
        const acts: { id: number; act: number }[] = [];
        for (let e = z.rowPtr[r]!; e < z.rowPtr[r + 1]!; e++) if (z.vals[e]! > 0) acts.push({ id: z.idx[e]!, act: z.vals[e]! });
        acts.sort((a, b) => b.act - a.act);
        out.top.push(acts.slice(0, topK));
        if (out.latent) out.latent.push(acts.find((a) => a.id === latent)?.act ?? 0);
      }
      return out;
    },
    steer(prompt, latent, scale, steps) {
      if (prompt.length > LIVE_CHARS) throw new RangeError(`prompt: at most ${LIVE_CHARS} characters, got ${prompt.length}`);
      const promptTokens = 1 + tokenizer.encode(prompt).length;
      if (promptTokens > LIVE_TOKENS) throw new RangeError(`prompt: at most ${LIVE_TOKENS} tokens, got ${promptTokens}`);
      const total = Math.min(model.config.maxSeqLen, promptTokens + Math.min(steps, LIVE_STEPS));
      const iv = noInterventions();
      iv.steer.set(latent, scale);
      const continuation = (hook?: Hook): string => {
        const { ids } = generate(model, tokenizer, prompt, { steps: total, ...(hook ? { hook } : {}) });
        return ids.slice(promptTokens).map((id, i) => tokenizer.piece(id, ids[promptTokens + i - 1])).join('');
      };
      return { plain: continuation(), steered: continuation(span > 1 ? cltSteerHook(sae, at.layer, latent, scale) : interventionHook(be, sae, at, iv)) };
    },
  };
}

/** Steering a cross-layer transcoder's latent: its writes, scale × its decoder block for each
 *  layer, added to those layers' MLP outputs (the transcoder's target site) at every position. */
function cltSteerHook(sae: Sae, first: number, latent: number, scale: number): Hook {
  const g = cltDimsOf(sae.cfg), w = g.S * g.dm, spec = parseDataSpec(sae.cfg.data, 'cfg.json data');
  const target = spec.kind === 'lm' ? spec.lm.targetSite ?? 'mlp_out' : 'mlp_out';
  const row = sae.params.W_dec.subarray(latent * w, (latent + 1) * w);
  return (layer, site, x, rows) => {
    const t = layer - first;
    if (site !== target || t < 0 || t >= g.S) return;
    for (let r = 0; r < rows; r++) for (let c = 0; c < g.dm; c++) x[r * g.dm + c]! += scale * row[t * g.dm + c]!;
  };
}

/** The side with its model attached (opened on the first live request), when its index says
 *  which model, site and layer it read; otherwise the side as it is. */
export function withLive(be: Backend, side: ViewerSide): ViewerSide {
  const meta = side.store.meta();
  if (typeof meta.model !== 'string' || typeof meta.site !== 'string' || !(SITES as readonly string[]).includes(meta.site)) return side;
  let opened: Promise<LiveModel> | null = null;
  const at = () => ({ model: meta.model as string, site: meta.site as Site, layer: typeof meta.layer === 'number' ? meta.layer : saeSiteOf(side.sae).layer });
  return { ...side, live: () => (opened ??= openLive(be, side.sae, at())) };
}
