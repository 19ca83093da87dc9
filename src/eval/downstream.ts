/**
 * Downstream evaluation (docs/design.md §4.8): next-token cross-entropy of the model clean, with the
 * SAE's reconstruction spliced in at its site, and with the site zero-ablated;
 * fraction of CE recovered = (CE_zero − CE_splice) / (CE_zero − CE_clean); and the KL divergence
 * of each next-token distribution from the clean one. Splices act on every row the SAE was
 * trained on (all positions, or all but BOS tokens).
 */
import type { Backend } from '../compute/backend.js';
import type { LmActivations } from '../data/lm.js';
import type { Sae } from '../sae/common.js';
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
  /** FVU of the reconstruction at the site on these rows */
  site_fvu: number;
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

/** Runs `contexts` contexts of the stream's corpus three ways; `lm` fixes model, layer, site. */
export function downstreamEval(be: Backend, sae: Sae, lm: LmActivations, maxContexts: number, progress = false): DownstreamResult {
  const { model, layer, site, excludeBos, tokenizer } = lm;
  const { ctx, tokens: all } = lm.contexts;
  const count = Math.min(maxContexts, lm.contexts.count);
  if (count === 0) throw new Error('downstream evaluation: no contexts');
  const d = model.config.dim, V = model.config.vocabSize;
  if (sae.cfg.dOut !== undefined) throw new Error('downstream evaluation splices an SAE at one site; splicing a transcoder (input site to target site) is not supported yet');
  if (sae.cfg.d !== d) throw new Error(`the SAE has d=${sae.cfg.d} but ${model.source} has d=${d} at ${site}`);
  const B = Math.max(1, Math.min(lm.batch, count));
  const acc = { clean: 0, spliced: 0, zero: 0, klS: 0, klZ: 0, n: 0, sse: 0, sumSq: 0, rows: 0 };
  const sumX = new Float64Array(d);
  const bar = progress ? new Progress('downstream', count, 'contexts') : null;
  const CHUNK = 64;
  const lc = new Float32Array(CHUNK * V), ls = new Float32Array(CHUNK * V), lz = new Float32Array(CHUNK * V);
  const pc = new Float64Array(V), px = new Float64Array(V);
  for (let c0 = 0; c0 < count; c0 += B) {
    const nb = Math.min(B, count - c0), R = nb * ctx;
    const toks = all.subarray(c0 * ctx, (c0 + nb) * ctx);
    const spliced = (r: number): boolean => !(excludeBos && toks[r] === tokenizer.bos);
    const run = (mode: 'clean' | 'spliced' | 'zero'): Float32Array => model.forward(toks, nb, {
      hook: (l, s, x) => {
        if (l !== layer || s !== site || mode === 'clean') return;
        if (mode === 'zero') {
          for (let r = 0; r < R; r++) if (spliced(r)) x.fill(0, r * d, (r + 1) * d);
          return;
        }
        const { recon } = encode(be, sae, x, R);
        for (let r = 0; r < R; r++) {
          if (!spliced(r)) continue;
          for (let j = 0; j < d; j++) {
            const v = x[r * d + j]!, e = v - recon[r * d + j]!;
            acc.sse += e * e;
            acc.sumSq += v * v;
            sumX[j]! += v;
          }
          acc.rows++;
          x.set(recon.subarray(r * d, (r + 1) * d), r * d);
        }
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
  let meanSq = 0;
  for (let j = 0; j < d; j++) meanSq += (sumX[j]! / acc.rows) ** 2;
  const ce = (v: number): number => v / acc.n;
  const [clean, spliced, zero] = [ce(acc.clean), ce(acc.spliced), ce(acc.zero)];
  return {
    predictions: acc.n, contexts: count, ce_clean: clean, ce_spliced: spliced, ce_zero: zero,
    ce_recovered: (zero - spliced) / (zero - clean), kl_spliced: ce(acc.klS), kl_zero: ce(acc.klZ),
    site_fvu: acc.sse / (acc.sumSq - acc.rows * meanSq),
  };
}
