/**
 * `saekit index`: per-latent statistics of a trained SAE on held-out data, into one SQLite file
 * the viewer reads: firing density, activation quantiles and histogram, top activating examples
 * (with their token context and the latent's activation on every token, when the data comes
 * from a language model), decoder-cosine nearest neighbours, the most opposing partner, logit
 * effects (unembedding · decoder row) when the model is known, and the best ground-truth match
 * on synthetic data. Written under a temp name and renamed, so a reader never sees half a file.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Backend } from '../compute/backend.js';
import { LmActivations, parseLmSpec } from '../data/lm.js';
import { openHeldOut } from '../data/open.js';
import { ShardSource } from '../data/shards.js';
import type { ActivationSource } from '../data/source.js';
import { tempPathFor } from '../io/atomic.js';
import { loadLm } from '../lm/load.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import type { Transformer } from '../lm/transformer.js';
import { loadSae, type Sae } from '../sae/common.js';
import { encodeSae } from '../sae/encode.js';
import { Progress } from '../util/progress.js';
import { SCHEMA } from './schema.js';

export interface IndexOptions {
  /** activations (default: the SAE's training data; synthetic data uses its held-out stream) */
  data?: string;
  tokens: number;
  /** top examples kept per latent */
  top: number;
  /** context tokens shown on each side of an example */
  window: number;
  neighbors: number;
  out?: string;
  progress?: boolean;
}

/** Row-major codes of all indexed rows (CSR over rows), with tokens and positions. */
interface Codes {
  rows: number;
  rowPtr: Int32Array;
  idx: Int32Array;
  vals: Float32Array;
  tok: Int32Array;
  pos: Int32Array;
}

/** The model and tokenizer behind the data, when the data says where it came from. */
async function modelOf(src: ActivationSource, be: Backend): Promise<{ model: Transformer; tokenizer: Tokenizer; site: string } | null> {
  if (src instanceof LmActivations) return { model: src.model, tokenizer: src.tokenizer, site: src.site };
  if (src instanceof ShardSource) {
    const origin = src.manifest.source as { model?: string; site?: string; lm_spec?: string };
    const model = origin.model ?? (origin.lm_spec ? parseLmSpec(origin.lm_spec).model : undefined);
    if (model && existsSync(model)) return { ...(await loadLm(model, be)), site: origin.site ?? '' };
  }
  return null;
}

function encodeAll(be: Backend, sae: Sae, src: ActivationSource, tokens: number, bar: Progress | null): Codes {
  const { d } = sae.cfg;
  const B = 4096;
  const x = new Float32Array(B * d), tb = new Int32Array(B), pb = new Int32Array(B);
  const rowPtr: number[] = [0], idx: number[] = [], vals: number[] = [], tok: number[] = [], pos: number[] = [];
  const withTokens = src as ActivationSource & { readWithTokens?: (o: Float32Array, r: number, t?: Int32Array, p?: Int32Array) => number };
  let seen = 0;
  while (seen < tokens) {
    const want = Math.min(B, tokens - seen);
    tb.fill(-1); pb.fill(-1);
    const rows = withTokens.readWithTokens ? withTokens.readWithTokens(x, want, tb, pb) : src.read(x, want);
    if (rows === 0) break;
    const { z } = encodeSae(be, sae, x, rows);
    for (let r = 0; r < rows; r++) {
      for (let e = z.rowPtr[r]!; e < z.rowPtr[r + 1]!; e++) {
        if (z.idx[e]! < 0 || z.vals[e] === 0) continue;
        idx.push(z.idx[e]!);
        vals.push(z.vals[e]!);
      }
      rowPtr.push(idx.length);
      tok.push(tb[r]!);
      pos.push(pb[r]!);
    }
    seen += rows;
    bar?.update(seen);
  }
  if (seen === 0) throw new Error(`data ${src.description}: no rows to index`);
  return { rows: seen, rowPtr: Int32Array.from(rowPtr), idx: Int32Array.from(idx), vals: Float32Array.from(vals), tok: Int32Array.from(tok), pos: Int32Array.from(pos) };
}

/** For each row of a [n, d] the best `k` others by dot product with rows of b (excluding
 *  i == j when same), in blocks through the GEMM. */
export function topMatches(be: Backend, a: Float32Array, b: Float32Array, n: number, m: number, d: number, k: number, same: boolean,
  bar: Progress | null = null, negate = false): { vals: Float32Array; idx: Int32Array } {
  const vals = new Float32Array(n * k).fill(-Infinity), idx = new Int32Array(n * k).fill(-1);
  const block = 2048;
  const g = new Float32Array(block * block);
  for (let i0 = 0; i0 < n; i0 += block) {
    const bi = Math.min(block, n - i0);
    for (let j0 = 0; j0 < m; j0 += block) {
      const bj = Math.min(block, m - j0);
      be.gemm({ a: a.subarray(i0 * d, (i0 + bi) * d), b: b.subarray(j0 * d, (j0 + bj) * d), c: g.subarray(0, bi * bj), m: bi, n: bj, k: d, transB: true, alpha: negate ? -1 : 1 });
      if (same) for (let i = Math.max(i0, j0); i < Math.min(i0 + bi, j0 + bj); i++) g[(i - i0) * bj + (i - j0)] = -Infinity;
      const top = be.topk(g.subarray(0, bi * bj), bi, bj, Math.min(k, bj));
      const kk = Math.min(k, bj);
      for (let r = 0; r < bi; r++) {
        // merge this block's best into the row's running best (most blocks cannot improve it)
        if (!(top.vals[r * kk]! > vals[(i0 + r) * k + k - 1]!)) continue;
        const cand: [number, number][] = [];
        for (let t = 0; t < k; t++) cand.push([vals[(i0 + r) * k + t]!, idx[(i0 + r) * k + t]!]);
        for (let t = 0; t < kk; t++) cand.push([top.vals[r * kk + t]!, top.idx[r * kk + t]! + j0]);
        cand.sort((u, w) => w[0] - u[0] || u[1] - w[1]);
        for (let t = 0; t < k; t++) { vals[(i0 + r) * k + t] = cand[t]![0]; idx[(i0 + r) * k + t] = cand[t]![1]; }
      }
    }
    bar?.update(i0 + bi);
  }
  return { vals, idx };
}

export async function indexRun(be: Backend, run: string, o: IndexOptions): Promise<{ path: string; rows: number; latents: number }> {
  const sae = loadSae(run);
  const { n, d } = sae.cfg;
  const dataSpec = o.data ?? sae.cfg.data;
  if (!dataSpec) throw new Error(`${run}: the SAE does not say what data it was trained on; pass --data`);
  const src = await openHeldOut(dataSpec, be, o.tokens);
  if (src.d !== d) throw new Error(`data ${src.description} has d=${src.d} but the SAE expects d=${d}`);
  const lm = await modelOf(src, be);
  const say = (s: string): void => { if (o.progress) process.stderr.write(s + '\n'); };

  say(`index: encoding ${o.tokens} rows of ${src.description}`);
  const codes = encodeAll(be, sae, src, o.tokens, o.progress ? new Progress('encode', o.tokens, 'tokens') : null);
  // entries grouped by latent (counting sort), for densities, quantiles and top examples
  const count = new Int32Array(n);
  for (const i of codes.idx) count[i]!++;
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) start[i + 1] = start[i]! + count[i]!;
  const byLatentRow = new Int32Array(codes.idx.length), byLatentVal = new Float32Array(codes.idx.length);
  const fill = start.slice(0, n);
  for (let r = 0; r < codes.rows; r++) {
    for (let e = codes.rowPtr[r]!; e < codes.rowPtr[r + 1]!; e++) {
      const i = codes.idx[e]!, at = fill[i]!++;
      byLatentRow[at] = r;
      byLatentVal[at] = codes.vals[e]!;
    }
  }
  const actAt = (row: number, latent: number): number => {
    for (let e = codes.rowPtr[row]!; e < codes.rowPtr[row + 1]!; e++) if (codes.idx[e] === latent) return codes.vals[e]!;
    return 0;
  };

  say(`index: decoder neighbours and opposing partners of ${n} latents`);
  // decoder rows live in the output space (a transcoder's target space)
  const dOut = sae.cfg.dOut ?? d;
  const unit = Float32Array.from(sae.params.W_dec);
  be.normalizeRows(unit, n, dOut);
  const K = Math.min(o.neighbors, Math.max(n - 1, 1));
  const nb = topMatches(be, unit, unit, n, n, dOut, K, true, o.progress ? new Progress('neighbours', n, 'latents') : null);
  const opp = be.minCosine(unit, n, dOut);

  let logits: { top: Int32Array; topV: Float32Array; bot: Int32Array; botV: Float32Array } | null = null;
  const outSite = sae.cfg.dOut !== undefined && src instanceof LmActivations ? src.targetSite ?? '' : lm?.site ?? '';
  if (lm && lm.model.config.dim === dOut && /^resid|attn_out|mlp_out/.test(outSite)) {
    say('index: logit effects (unembedding · decoder row)');
    const { weights, config } = lm.model;
    const scaled = Float32Array.from(sae.params.W_dec, (v, e) => v * weights.normF[e % dOut]!);
    const t = topMatches(be, scaled, weights.head, n, config.vocabSize, dOut, 5, false);
    const b = topMatches(be, scaled, weights.head, n, config.vocabSize, dOut, 5, false, null, true);
    logits = { top: t.idx, topV: t.vals, bot: b.idx, botV: b.vals.map((v) => -v) };
  }
  let truth: { idx: Int32Array; cos: Float32Array } | null = null;
  const truthDirs = sae.cfg.dOut !== undefined ? src.truth?.targets : src.truth?.features;
  if (src.truth && truthDirs) {
    const t = topMatches(be, unit, truthDirs, n, src.truth.m, dOut, 1, false);
    truth = { idx: t.idx, cos: t.vals };
  }

  const path = o.out ?? join(run, 'viewer.sqlite');
  const tmp = tempPathFor(path);
  const db = new Database(tmp);
  try {
    db.pragma('journal_mode = OFF');
    db.exec(SCHEMA);
    const meta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    const insLatent = db.prepare(`INSERT INTO latents (id, density, count, mean_act, max_act, q50, q90, q99, hist, neighbors, opposing_id, opposing_cos,
      truth_id, truth_cos, logits_top, logits_bottom, top_token) VALUES (@id, @density, @count, @mean_act, @max_act, @q50, @q90, @q99, @hist, @neighbors,
      @opposing_id, @opposing_cos, @truth_id, @truth_cos, @logits_top, @logits_bottom, @top_token)`);
    const insExample = db.prepare('INSERT INTO examples (latent, rank, act, row, tokens, acts, focus) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const insToken = db.prepare('INSERT OR IGNORE INTO latent_tokens (token, latent) VALUES (?, ?)');
    const piece = (r: number): string => {
      if (!lm || codes.tok[r]! < 0) return '';
      const prev = r > 0 && codes.pos[r - 1] === codes.pos[r]! - 1 ? codes.tok[r - 1] : undefined;
      return lm.tokenizer.piece(codes.tok[r]!, prev);
    };
    const bar = o.progress ? new Progress('write', n, 'latents') : null;
    db.transaction(() => {
      for (const [k, v] of Object.entries({
        run, data: src.description, rows: codes.rows, n, d, arch: sae.cfg.arch, k: sae.cfg.k, has_text: Boolean(lm && codes.tok[0]! >= 0),
        model: lm?.model.source ?? null, site: lm?.site ?? null, truth: Boolean(truth), created: new Date().toISOString(),
      })) meta.run(k, JSON.stringify(v));
      for (let i = 0; i < n; i++) {
        const a = byLatentVal.subarray(start[i]!, start[i + 1]!), rowsOf = byLatentRow.subarray(start[i]!, start[i + 1]!);
        const order = Array.from(a.keys()).sort((u, w) => a[w]! - a[u]! || rowsOf[u]! - rowsOf[w]!);
        const sorted = order.map((j) => a[j]!);
        const q = (f: number): number | null => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((1 - f) * sorted.length))]! : null);
        const max = sorted[0] ?? 0;
        const hist = new Array(20).fill(0);
        for (const v of sorted) hist[Math.min(19, Math.floor((20 * v) / (max || 1)))]++;
        let topToken = '';
        order.slice(0, o.top).forEach((j, rank) => {
          const r = rowsOf[j]!;
          let lo = r, hi = r;
          const sameCtx = (u: number): boolean => codes.pos[u]! >= 0 && codes.pos[u]! - codes.pos[r]! === u - r;
          while (lo > 0 && r - lo < o.window && sameCtx(lo - 1)) lo--;
          while (hi + 1 < codes.rows && hi - r < o.window && sameCtx(hi + 1)) hi++;
          const toks: string[] = [], acts: number[] = [];
          for (let u = lo; u <= hi; u++) { toks.push(piece(u)); acts.push(actAt(u, i)); }
          if (rank === 0) topToken = piece(r);
          if (lm) insToken.run(piece(r).trim().toLowerCase(), i);
          insExample.run(i, rank, a[j]!, r, JSON.stringify(toks), JSON.stringify(acts), r - lo);
        });
        const nbs = Array.from({ length: K }, (_, t) => ({ id: nb.idx[i * K + t], cos: nb.vals[i * K + t] })).filter((x) => x.id! >= 0);
        const logitList = (ids: Int32Array, vs: Float32Array): string => JSON.stringify(Array.from({ length: 5 }, (_, t) => ({
          token: lm!.tokenizer.piece(ids[i * 5 + t]!), value: vs[i * 5 + t] })));
        insLatent.run({
          id: i, density: a.length / codes.rows, count: a.length, mean_act: a.length ? sorted.reduce((s, v) => s + v, 0) / a.length : 0, max_act: max,
          q50: q(0.5), q90: q(0.9), q99: q(0.99), hist: JSON.stringify(hist), neighbors: JSON.stringify(nbs),
          opposing_id: opp.idx[i]! >= 0 ? opp.idx[i] : null, opposing_cos: opp.idx[i]! >= 0 ? opp.vals[i] : null,
          truth_id: truth ? truth.idx[i] : null, truth_cos: truth ? truth.cos[i] : null,
          logits_top: logits ? logitList(logits.top, logits.topV) : null, logits_bottom: logits ? logitList(logits.bot, logits.botV) : null,
          top_token: topToken,
        });
        if (i % 1024 === 0) bar?.update(i);
      }
    })();
    bar?.update(n);
    db.close();
    renameSync(tmp, path);
  } catch (err) {
    db.close();
    rmSync(tmp, { force: true });
    throw err;
  }
  return { path, rows: codes.rows, latents: n };
}
