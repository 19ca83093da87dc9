/**
 * `saekit index`: per-latent statistics of a trained SAE on held-out data, into one SQLite file
 * the viewer reads: firing density, activation quantiles and histogram, top activating examples
 * (with their token context and the latent's activation on every token, when the data comes
 * from a language model) and examples from each of ten activation intervals, decoder-cosine nearest neighbours, the most opposing partner, logit
 * effects (unembedding · decoder row) when the model is known, and the best ground-truth match
 * on synthetic data. Written under a temp name and renamed, so a reader never sees half a file.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Backend } from '../compute/backend.js';
import { parseLmSpec } from '../data/lm.js';
import type { ActivationSource } from '../data/source.js';
import { dataOrigin, evaluationData, openData, type DataSpec } from '../data/spec.js';
import { tempPathFor } from '../io/atomic.js';
import { lockFolder } from '../io/lock.js';
import { loadLm } from '../lm/load.js';
import type { Tokenizer } from '../lm/tokenizer.js';
import type { Transformer } from '../lm/transformer.js';
import type { Sae } from '../sae/common.js';
import { loadSae } from '../sae/folder.js';
import { encode } from '../sae/encode.js';
import { decoderWidth, topDot, unitDecoder, type TopMatches } from '../sae/geometry.js';
import { Progress } from '../util/progress.js';
import { SCHEMA } from './schema.js';

export interface IndexOptions {
  /** activations (default: the SAE's training data; synthetic data uses its held-out stream) */
  data?: string;
  tokens: number;
  /** top examples kept per latent */
  top: number;
  /** examples drawn from each of ten equal-width activation intervals (SAEDashboard's interval groups) */
  perInterval?: number;
  /** context tokens shown on each side of an example */
  window: number;
  neighbors: number;
  out?: string;
  /** replace `out` even when it is not a viewer database */
  force?: boolean;
  progress?: boolean;
}

/** An existing file at `path` that is not a viewer database is not replaced unless forced. */
function checkTarget(path: string, force: boolean): void {
  if (force || !existsSync(path)) return;
  let isViewer = false;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      isViewer = Boolean(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'latents'").get());
    } finally {
      db.close();
    }
  } catch {
    isViewer = false;
  }
  if (!isViewer) throw new Error(`--out ${path} exists and is not a viewer database: pass --force to replace it, or choose another path`);
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

/** The model and tokenizer behind the data, when the data says where it came from (loaded
 *  once per process: a live source and this share the model). */
async function modelOf(spec: DataSpec, be: Backend): Promise<{ model: Transformer; tokenizer: Tokenizer; site: string; layer?: number; targetSite?: string } | null> {
  const origin = dataOrigin(spec);
  const model = origin?.model ?? (origin?.lm_spec ? parseLmSpec(origin.lm_spec).model : undefined);
  if (!model || !(model.startsWith('hf:') || existsSync(model))) return null;
  const tokenizer = spec.kind === 'lm' ? spec.lm.tokenizer : undefined;
  return {
    ...(await loadLm(model, be, tokenizer)), site: origin?.site ?? '', ...(origin?.layer !== undefined ? { layer: origin.layer } : {}),
    ...(origin?.target_site ? { targetSite: origin.target_site } : {}),
  };
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
    const { z } = encode(be, sae, x, rows);
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

/** Entries grouped by latent (a counting sort): latent i's entries are [start[i], start[i+1])
 *  of row/val, in row order. */
function groupByLatent(codes: Codes, n: number): { start: Int32Array; row: Int32Array; val: Float32Array } {
  const count = new Int32Array(n);
  for (const i of codes.idx) count[i]!++;
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) start[i + 1] = start[i]! + count[i]!;
  const row = new Int32Array(codes.idx.length), val = new Float32Array(codes.idx.length);
  const fill = start.slice(0, n);
  for (let r = 0; r < codes.rows; r++) {
    for (let e = codes.rowPtr[r]!; e < codes.rowPtr[r + 1]!; e++) {
      const i = codes.idx[e]!, at = fill[i]!++;
      row[at] = r;
      val[at] = codes.vals[e]!;
    }
  }
  return { start, row, val };
}

type Lm = NonNullable<Awaited<ReturnType<typeof modelOf>>>;

/** What the decoder's geometry says per latent: nearest neighbours, the most opposing partner,
 *  logit effects (when a model whose residual stream the decoder writes to is known) and the
 *  best ground-truth match (synthetic data). Decoder rows live in the output space. */
interface Geometry {
  K: number;
  nb: TopMatches;
  opp: { vals: Float32Array; idx: Int32Array };
  logits: { top: Int32Array; topV: Float32Array; bot: Int32Array; botV: Float32Array; hist: string[] } | null;
  truth: { idx: Int32Array; cos: Float32Array } | null;
}

function latentGeometry(be: Backend, sae: Sae, src: ActivationSource, lm: Lm | null, neighbors: number, progress: boolean): Geometry {
  const n = sae.cfg.n, dOut = decoderWidth(sae);
  const unit = unitDecoder(be, sae);
  const K = Math.min(neighbors, Math.max(n - 1, 1));
  const bar = progress ? new Progress('neighbours', n, 'latents') : null;
  const nb = topDot(be, unit, n, unit, n, dOut, K, { same: true, onProgress: (i) => bar?.update(i) });
  const opp = be.minCosine(unit, n, dOut);
  let logits: Geometry['logits'] = null;
  const outSite = (sae.cfg.dOut !== undefined ? lm?.targetSite : lm?.site) ?? '';
  if (lm && lm.model.config.dim === dOut && /^resid|attn_out|mlp_out/.test(outSite)) {
    // logit effects: the unembedding times the final-norm-scaled decoder row
    const { weights, config } = lm.model;
    const scaled = Float32Array.from(sae.params.W_dec, (v, e) => v * weights.normF[e % dOut]!);
    const t = topDot(be, scaled, n, weights.head, config.vocabSize, dOut, 5);
    const b = topDot(be, scaled, n, weights.head, config.vocabSize, dOut, 5, { negate: true });
    logits = { top: t.idx, topV: t.vals, bot: b.idx, botV: b.vals.map((v) => -v), hist: logitHistograms(be, scaled, n, weights.head, config.vocabSize, dOut) };
  }
  let truth: Geometry['truth'] = null;
  const truthDirs = sae.cfg.dOut !== undefined ? src.truth?.targets : src.truth?.features;
  if (src.truth && truthDirs) {
    const t = topDot(be, unit, n, truthDirs, src.truth.m, dOut, 1);
    truth = { idx: t.idx, cos: t.vals };
  }
  return { K, nb, opp, logits, truth };
}

/** Per latent, a 20-bin histogram of its logit effect on every token of the vocabulary
 *  ({lo, hi, counts}), from the products computed 256 latents at a time. */
function logitHistograms(be: Backend, rows: Float32Array, n: number, head: Float32Array, vocab: number, d: number): string[] {
  const block = 256, out: string[] = [];
  const c = new Float32Array(block * vocab);
  for (let i0 = 0; i0 < n; i0 += block) {
    const m = Math.min(block, n - i0);
    be.gemm({ a: rows.subarray(i0 * d, (i0 + m) * d), b: head, c: c.subarray(0, m * vocab), m, n: vocab, k: d, transB: true });
    for (let i = 0; i < m; i++) {
      const v = c.subarray(i * vocab, (i + 1) * vocab);
      let lo = Infinity, hi = -Infinity;
      for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
      const counts = new Array(20).fill(0), w = (hi - lo) / 20 || 1;
      for (const x of v) counts[Math.min(19, Math.floor((x - lo) / w))]++;
      out.push(JSON.stringify({ lo, hi, counts }));
    }
  }
  return out;
}

export async function indexRun(be: Backend, run: string, o: IndexOptions): Promise<{ path: string; rows: number; latents: number }> {
  const path = o.out ?? join(run, 'viewer.sqlite');
  checkTarget(path, Boolean(o.force));
  const release = lockFolder(dirname(path), `saekit index ${run}`);
  try {
    return await indexLocked(be, run, path, o);
  } finally {
    release();
  }
}

async function indexLocked(be: Backend, run: string, path: string, o: IndexOptions): Promise<{ path: string; rows: number; latents: number }> {
  const sae = loadSae(run);
  if (!o.data && !sae.cfg.data) throw new Error(`${run}: the SAE does not say what data it was trained on; pass --data`);
  const { spec } = evaluationData(o.data ?? sae.cfg.data, o.tokens, o.data === undefined, o.data ? '--data' : `${run}/cfg.json data`);
  const src = await openData(spec, be);
  if (src.d !== sae.cfg.d) throw new Error(`data ${src.description} has d=${src.d} but the SAE expects d=${sae.cfg.d}`);
  const lm = await modelOf(spec, be);
  const say = (s: string): void => { if (o.progress) process.stderr.write(s + '\n'); };
  say(`index: encoding ${o.tokens} rows of ${src.description}`);
  const codes = encodeAll(be, sae, src, o.tokens, o.progress ? new Progress('encode', o.tokens, 'tokens') : null);
  say(`index: decoder neighbours, opposing partners${lm ? ', logit effects' : ''} of ${sae.cfg.n} latents`);
  const geo = latentGeometry(be, sae, src, lm, o.neighbors, Boolean(o.progress));
  writeIndex(path, { run, sae, src, lm, codes, geo, o });
  return { path, rows: codes.rows, latents: sae.cfg.n };
}

/** Writes the database under a temp name and renames it into place. */
function writeIndex(path: string, c: { run: string; sae: Sae; src: ActivationSource; lm: Lm | null; codes: Codes; geo: Geometry; o: IndexOptions }): void {
  const { sae, codes, lm, geo, o } = c;
  const { n, d } = sae.cfg;
  const tmp = tempPathFor(path);
  const db = new Database(tmp);
  try {
    db.pragma('journal_mode = OFF');
    db.exec(SCHEMA);
    const meta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    const insLatent = db.prepare(`INSERT INTO latents (id, density, count, mean_act, max_act, q50, q90, q99, hist, neighbors, opposing_id, opposing_cos,
      truth_id, truth_cos, logits_top, logits_bottom, logit_hist, intervals, top_token) VALUES (@id, @density, @count, @mean_act, @max_act, @q50, @q90, @q99, @hist,
      @neighbors, @opposing_id, @opposing_cos, @truth_id, @truth_cos, @logits_top, @logits_bottom, @logit_hist, @intervals, @top_token)`);
    const insExample = db.prepare('INSERT INTO examples (latent, section, rank, act, row, tokens, acts, focus) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const insToken = db.prepare('INSERT OR IGNORE INTO latent_tokens (token, latent) VALUES (?, ?)');
    const piece = (r: number): string => {
      if (!lm || codes.tok[r]! < 0) return '';
      const prev = r > 0 && codes.pos[r - 1] === codes.pos[r]! - 1 ? codes.tok[r - 1] : undefined;
      return lm.tokenizer.piece(codes.tok[r]!, prev);
    };
    const actAt = (row: number, latent: number): number => {
      for (let e = codes.rowPtr[row]!; e < codes.rowPtr[row + 1]!; e++) if (codes.idx[e] === latent) return codes.vals[e]!;
      return 0;
    };
    const groups = groupByLatent(codes, n);
    const bar = o.progress ? new Progress('write', n, 'latents') : null;
    db.transaction(() => {
      for (const [k, v] of Object.entries({
        run: c.run, data: c.src.description, rows: codes.rows, n, d, arch: sae.cfg.arch, k: sae.cfg.k, has_text: Boolean(lm && codes.tok[0]! >= 0),
        model: lm?.model.source ?? null, site: lm?.site ?? null, layer: lm?.layer ?? null, truth: Boolean(geo.truth), created: new Date().toISOString(),
      })) meta.run(k, JSON.stringify(v));
      for (let i = 0; i < n; i++) {
        const a = groups.val.subarray(groups.start[i]!, groups.start[i + 1]!), rowsOf = groups.row.subarray(groups.start[i]!, groups.start[i + 1]!);
        const order = Array.from(a.keys()).sort((u, w) => a[w]! - a[u]! || rowsOf[u]! - rowsOf[w]!);
        const sorted = order.map((j) => a[j]!);
        let topToken = '';
        const example = (j: number, section: number, rank: number): void => {
          const r = rowsOf[j]!;
          let lo = r, hi = r;
          const sameCtx = (u: number): boolean => codes.pos[u]! >= 0 && codes.pos[u]! - codes.pos[r]! === u - r;
          while (lo > 0 && r - lo < o.window && sameCtx(lo - 1)) lo--;
          while (hi + 1 < codes.rows && hi - r < o.window && sameCtx(hi + 1)) hi++;
          const toks: string[] = [], acts: number[] = [];
          for (let u = lo; u <= hi; u++) { toks.push(piece(u)); acts.push(actAt(u, i)); }
          if (section === -1 && rank === 0) topToken = piece(r);
          if (lm && section === -1) insToken.run(piece(r).trim().toLowerCase(), i);
          insExample.run(i, section, rank, a[j]!, r, JSON.stringify(toks), JSON.stringify(acts), r - lo);
        };
        order.slice(0, o.top).forEach((j, rank) => example(j, -1, rank));
        // SAEDashboard's interval groups: (0, max] cut into ten equal widths (0: the highest), a few
        // examples evenly spaced by rank inside each, and the share of the activations each holds
        const per = o.perInterval ?? 5, max = sorted[0] ?? 0, intervals: { lo: number; hi: number; share: number }[] = [];
        let from = 0;
        for (let q = 0; q < 10 && max > 0; q++) {
          const lo = (max * (9 - q)) / 10;
          let to = from;
          while (to < sorted.length && (sorted[to]! > lo || q === 9)) to++;
          intervals.push({ lo, hi: (max * (10 - q)) / 10, share: (to - from) / sorted.length });
          const take = Math.min(per, to - from);
          for (let t = 0; t < take; t++) example(order[from + Math.floor(((t + 0.5) * (to - from)) / take)]!, q, t);
          from = to;
        }
        insLatent.run({ id: i, ...activationStats(sorted, codes.rows), ...geometryRow(geo, i, lm), intervals: JSON.stringify(intervals), top_token: topToken });
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
}

/** Density, mean, max, quantiles and a 20-bin histogram of one latent's activations (sorted descending). */
function activationStats(sorted: number[], rows: number) {
  const q = (f: number): number | null => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((1 - f) * sorted.length))]! : null);
  const max = sorted[0] ?? 0;
  const hist = new Array(20).fill(0);
  for (const v of sorted) hist[Math.min(19, Math.floor((20 * v) / (max || 1)))]++;
  return {
    density: sorted.length / rows, count: sorted.length, mean_act: sorted.length ? sorted.reduce((s, v) => s + v, 0) / sorted.length : 0, max_act: max,
    q50: q(0.5), q90: q(0.9), q99: q(0.99), hist: JSON.stringify(hist),
  };
}

/** Latent i's columns from the decoder geometry. */
function geometryRow(geo: Geometry, i: number, lm: Lm | null) {
  const { K, nb, opp, logits, truth } = geo;
  const nbs = Array.from({ length: K }, (_, t) => ({ id: nb.idx[i * K + t], cos: nb.vals[i * K + t] })).filter((x) => x.id! >= 0);
  const logitList = (ids: Int32Array, vs: Float32Array): string => JSON.stringify(Array.from({ length: 5 }, (_, t) => ({
    token: lm!.tokenizer.piece(ids[i * 5 + t]!), value: vs[i * 5 + t] })));
  return {
    neighbors: JSON.stringify(nbs),
    opposing_id: opp.idx[i]! >= 0 ? opp.idx[i] : null, opposing_cos: opp.idx[i]! >= 0 ? opp.vals[i] : null,
    truth_id: truth ? truth.idx[i] : null, truth_cos: truth ? truth.cos[i] : null,
    logits_top: logits ? logitList(logits.top, logits.topV) : null, logits_bottom: logits ? logitList(logits.bot, logits.botV) : null,
    logit_hist: logits ? logits.hist[i] : null,
  };
}
