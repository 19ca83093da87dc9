/**
 * Downstream evaluation (docs/design.md §4.8): next-token cross-entropy of the model clean, with the
 * SAE's reconstruction spliced in at its site, and with the site zero-ablated;
 * fraction of CE recovered = (CE_zero − CE_splice) / (CE_zero − CE_clean); and the KL divergence
 * of each next-token distribution from the clean one. Splices act on every row the SAE was
 * trained on (all positions, or all but BOS tokens). A transcoder reads its input site and its
 * output replaces its target site (mlp_in → mlp_out: the MLP replaced); several splices at once
 * (every layer's transcoder: the replacement model without error terms) each act in the same
 * forward, on what reaches them there. A cross-layer transcoder is one splice per layer it spans:
 * layer l's latents read that layer's MLP input and their writes wait for the MLP outputs of
 * layers l.. (each MLP replaced by the sum of what every earlier layer's latents wrote to it).
 */
import type { Backend } from '../compute/backend.js';
import type { LmActivations } from '../data/lm.js';
import type { Site } from '../lm/transformer.js';
import type { Sae } from '../sae/common.js';
import { cltDimsOf, cltLayerWrites } from '../sae/arch/clt.js';
import { encode } from '../sae/encode.js';
import { Progress } from '../util/progress.js';

export interface DownstreamResult {
  /** next-token predictions scored */
  predictions: number;
  contexts: number;
  ce_clean: number;
  ce_spliced: number;
  ce_zero: number;
  /** (CE_zero − CE_spliced) / (CE_zero − CE_clean) */
  ce_recovered: number;
  /** mean KL(clean ‖ spliced) and KL(clean ‖ zero-ablated) per prediction, nats */
  kl_spliced: number;
  kl_zero: number;
  /** FVU of the reconstruction at the site on these rows (several splices: pooled over them) */
  site_fvu: number;
  /** each splice's FVU, in the spliced forward (against what its site held there) */
  sites: { layer: number; site: Site; fvu: number }[];
}

/** One reconstruction spliced into the forward: an SAE at its site, or a transcoder reading
 *  `site` and writing `target`. */
export interface Splice {
  sae: Sae;
  layer: number;
  site: Site;
  target?: Site;
  /** a cross-layer transcoder's layer (its latent group): reads its site at `layer`, writes its
   *  target there the sum of the writes of groups 0..group */
  group?: number;
}

/** Log-softmax of one row, in float64. */
function logSoftmax(row: Float32Array, out: Float64Array): void {
  let max = -Infinity;
  for (let j = 0; j < row.length; j++) max = Math.max(max, row[j]!);
  let sum = 0;
  for (let j = 0; j < row.length; j++) sum += Math.exp(row[j]! - max);
  const lse = max + Math.log(sum);
  for (let j = 0; j < row.length; j++) out[j] = row[j]! - lse;
}

/** The splices of one SAE at the stream's layer and site (a transcoder to the stream's target site). */
function splicesOf(sae: Sae, lm: LmActivations): Splice[] {
  if (sae.cfg.dOut !== undefined && !lm.targetSite) throw new Error(`a transcoder is spliced from its input site to its target site: the data (${lm.description}) names no targetSite`);
  if (sae.cfg.layers) return Array.from({ length: sae.cfg.layers }, (_, t) => ({ sae, layer: lm.layer + t, site: lm.site, target: lm.targetSite!, group: t }));
  return [{ sae, layer: lm.layer, site: lm.site, ...(sae.cfg.dOut !== undefined ? { target: lm.targetSite } : {}) }];
}

/** One layer t of a cross-layer transcoder in the spliced forward: at its input site its latents'
 *  writes to layers t.. are added up; at its target site the sum so far (plus b_dec's block)
 *  replaces the MLP's output. */
function cltSplice(be: Backend, sp: Splice, t: number, s: Site, x: Float32Array, R: number, acc: Map<Sae, Float32Array[]>, write: (recon: Float32Array) => void): void {
  const { S, dm } = cltDimsOf(sp.sae.cfg), w = S * dm;
  if (!acc.has(sp.sae)) acc.set(sp.sae, Array.from({ length: S }, () => new Float32Array(R * dm)));
  const outs = acc.get(sp.sae)!;
  if (s === sp.site) {
    const { writes } = cltLayerWrites(be, sp.sae, t, x, R);
    for (let u = t; u < S; u++) for (let r = 0; r < R; r++) for (let j = 0; j < dm; j++) outs[u]![r * dm + j]! += writes[r * w + u * dm + j]!;
  }
  if (s === sp.target) {
    const recon = outs[t]!;
    for (let r = 0; r < R; r++) for (let j = 0; j < dm; j++) recon[r * dm + j]! += sp.sae.params.b_dec[t * dm + j]!;
    write(recon);
  }
}

/** Runs `contexts` contexts of the stream's corpus three ways: clean, with the splices, and with
 *  the spliced sites (a transcoder's target) zeroed; `lm` fixes the model and the corpus (and,
 *  given one SAE, its layer and site). */
export function downstreamEval(be: Backend, what: Sae | Splice[], lm: LmActivations, maxContexts: number, progress = false): DownstreamResult {
  const { model, excludeBos, tokenizer } = lm;
  const splices = Array.isArray(what) ? what : splicesOf(what, lm);
  const { ctx, tokens: all } = lm.contexts;
  const count = Math.min(maxContexts, lm.contexts.count);
  if (count === 0) throw new Error('downstream evaluation: no contexts');
  if (!splices.length) throw new Error('downstream evaluation: nothing to splice');
  const d = model.config.dim, V = model.config.vocabSize;
  const written = new Set<string>();
  for (const sp of splices) {
    const per = sp.sae.cfg.layers ?? 1;
    if (sp.sae.cfg.d !== d * per || (sp.sae.cfg.dOut ?? d * per) !== d * per) throw new Error(`the SAE at layer ${sp.layer} ${sp.site} has d=${sp.sae.cfg.d}${sp.sae.cfg.dOut ? `, d_out=${sp.sae.cfg.dOut}` : ''} but ${model.source} has d=${d}`);
    if (sp.layer >= model.config.nLayers) throw new Error(`layer ${sp.layer} does not exist: ${model.source} has layers 0..${model.config.nLayers - 1}`);
    const key = `${sp.layer}/${sp.target ?? sp.site}`;
    if (written.has(key)) throw new Error(`two splices write layer ${sp.layer} ${sp.target ?? sp.site}`);
    written.add(key);
  }
  const B = Math.max(1, Math.min(lm.batch, count));
  const acc = { clean: 0, spliced: 0, zero: 0, klS: 0, klZ: 0, n: 0 };
  // per splice: Σ||x − x̂||², Σ||x||², Σx, rows (x what its written site held in the spliced forward)
  const fit = splices.map(() => ({ sse: 0, sumSq: 0, sumX: new Float64Array(d), rows: 0 }));
  const bar = progress ? new Progress('downstream', count, 'contexts') : null;
  const CHUNK = 64;
  const lc = new Float32Array(CHUNK * V), ls = new Float32Array(CHUNK * V), lz = new Float32Array(CHUNK * V);
  const pc = new Float64Array(V), px = new Float64Array(V);
  for (let c0 = 0; c0 < count; c0 += B) {
    const nb = Math.min(B, count - c0), R = nb * ctx;
    const toks = all.subarray(c0 * ctx, (c0 + nb) * ctx);
    const spliced = (r: number): boolean => !(excludeBos && toks[r] === tokenizer.bos);
    // a transcoder's output, read at its input site, waits for its target site
    const pending = new Map<number, Float32Array>();
    // a cross-layer transcoder's writes so far to each of its layers' MLP outputs
    const cltOut = new Map<Sae, Float32Array[]>();
    const writeSite = (i: number, x: Float32Array, recon: Float32Array): void => {
      const f = fit[i]!;
      for (let r = 0; r < R; r++) {
        if (!spliced(r)) continue;
        for (let j = 0; j < d; j++) {
          const v = x[r * d + j]!, e = v - recon[r * d + j]!;
          f.sse += e * e;
          f.sumSq += v * v;
          f.sumX[j]! += v;
        }
        f.rows++;
        x.set(recon.subarray(r * d, (r + 1) * d), r * d);
      }
    };
    const run = (mode: 'clean' | 'spliced' | 'zero'): Float32Array => model.forward(toks, nb, {
      hook: (l, s, x) => {
        if (mode === 'clean') return;
        splices.forEach((sp, i) => {
          if (sp.layer !== l) return;
          const out = sp.target ?? sp.site;
          if (mode === 'zero') {
            if (s === out) for (let r = 0; r < R; r++) if (spliced(r)) x.fill(0, r * d, (r + 1) * d);
            return;
          }
          if (sp.group !== undefined) {
            cltSplice(be, sp, sp.group, s, x, R, cltOut, (recon) => writeSite(i, x, recon));
            return;
          }
          if (s === sp.site) {
            const { recon } = encode(be, sp.sae, x, R);
            if (sp.target) pending.set(i, recon);
            else writeSite(i, x, recon);
          }
          if (sp.target && s === sp.target) {
            writeSite(i, x, pending.get(i)!);
            pending.delete(i);
          }
        });
      },
    })!;
    const clean = run('clean'), splice = run('spliced'), zero = run('zero');
    for (let r0 = 0; r0 < R; r0 += CHUNK) {
      const rows = Math.min(CHUNK, R - r0);
      model.logits(clean, r0, rows, lc);
      model.logits(splice, r0, rows, ls);
      model.logits(zero, r0, rows, lz);
      for (let i = 0; i < rows; i++) {
        const r = r0 + i;
        if (r % ctx === ctx - 1) continue; // the last position has no next token
        const target = toks[r + 1]!;
        logSoftmax(lc.subarray(i * V, (i + 1) * V), pc);
        acc.clean -= pc[target]!;
        for (const [lg, key, kl] of [[ls, 'spliced', 'klS'], [lz, 'zero', 'klZ']] as const) {
          logSoftmax(lg.subarray(i * V, (i + 1) * V), px);
          acc[key] -= px[target]!;
          let k = 0;
          for (let j = 0; j < V; j++) k += Math.exp(pc[j]!) * (pc[j]! - px[j]!);
          acc[kl] += k;
        }
        acc.n++;
      }
    }
    bar?.update(c0 + nb);
  }
  bar?.done();
  // FVU = Σ||x − x̂||² / Σ||x − x̄||², with Σ||x − x̄||² = Σ||x||² − rows·||x̄||²
  const variance = (f: (typeof fit)[number]): number => {
    let meanSq = 0;
    for (let j = 0; j < d; j++) meanSq += (f.sumX[j]! / f.rows) ** 2;
    return f.sumSq - f.rows * meanSq;
  };
  const ce = (v: number): number => v / acc.n;
  const [clean, spliced, zero] = [ce(acc.clean), ce(acc.spliced), ce(acc.zero)];
  return {
    predictions: acc.n, contexts: count, ce_clean: clean, ce_spliced: spliced, ce_zero: zero,
    ce_recovered: (zero - spliced) / (zero - clean), kl_spliced: ce(acc.klS), kl_zero: ce(acc.klZ),
    site_fvu: fit.reduce((a, f) => a + f.sse, 0) / fit.reduce((a, f) => a + variance(f), 0),
    sites: splices.map((sp, i) => ({ layer: sp.layer, site: sp.target ?? sp.site, fvu: fit[i]!.sse / variance(fit[i]!) })),
  };
}
