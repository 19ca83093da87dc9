/**
 * The SAE trainer: a token budget of batches through the architecture's objective, the
 * decoder-norm constraint, Adam, firing statistics, metrics.jsonl, atomic checkpoints (every N
 * tokens, and when its AbortSignal fires) and an exact resume: the checkpoint holds every
 * piece of trainer state, so a resumed run ends with the same bits as an uninterrupted one.
 * The stages: prepare (data, run folder, config.json), initialize or restore, the step loop
 * with checkpoints, finish (the saved SAE). docs/design.md §3.
 *
 * Step arithmetic: steps = ceil(tokens / batch); tokens seen = Σ rows of each batch.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { rankRange, SINGLE, type Comm } from '../compute/comm.js';
import { formatDataSpec, openData, parseDataSpec } from '../data/spec.js';
import { RankSlice, wholeLength } from '../data/rank-slice.js';
import type { ActivationSource } from '../data/source.js';
import { writeFileAtomic } from '../io/atomic.js';
import { LOCK_FILE, lockFolder, requireFolder } from '../io/lock.js';
import { architecture } from '../sae/arch/registry.js';
import type { Objective } from '../sae/arch/types.js';
import type { ParamName, Sae, SaeParams } from '../sae/common.js';
import { initExtras, initParams, matchReconstructionScale } from '../sae/init.js';
import { loadSae, paramEntries, saveSae, saveSaeShard } from '../sae/folder.js';
import { Bf16Encoder, resolvePrecision } from '../sae/primitives.js';
import type { LatentShard } from '../sae/shard.js';
import { Progress } from '../util/progress.js';
import { Rng, seedFor } from '../util/rng.js';
import { Adam, clipGradNorm } from './adam.js';
import { checkpointDirs, readCheckpoint, sourceStateOf, writeCheckpoint } from './checkpoint.js';
import { archOptions, checkArchitecture, defaultLr, latentsFor, parseTrainConfig, type TrainConfig } from './config.js';
import { FiringTracker } from './dead.js';
import { readRunConfig, refuseConflicts, writeRunConfig, type Resolved } from './run-config.js';
import { lrAt } from './schedule.js';

export interface MetricsLine {
  step: number;
  tokens: number;
  loss: number;
  fvu: number;
  l0: number;
  dead_fraction: number;
  aux_loss: number;
  lr: number;
  tokens_per_s: number;
  /** architecture-specific numbers (fvu_4k, min_kept, window_entries, l1, kl, …) */
  [extra: string]: number;
}

export interface TrainOptions {
  out: string;
  /** continue from the run folder's last checkpoint (its config.json must match cfg) */
  resume?: boolean;
  /** print a progress bar / lines to stderr */
  progress?: boolean;
  /** stop (as if interrupted, with a checkpoint) after this many steps in this process; for tests */
  stopAfterSteps?: number;
  /** when aborted, stop at the next step with a checkpoint (the CLI aborts on SIGINT/SIGTERM) */
  signal?: AbortSignal;
  /** the progress bar's label (default "train") */
  label?: string;
  /** the training rows instead of cfg.data (cfg.data then only describes them): called once
   *  for the training stream and, on a fresh start, once more for the init sample */
  source?: () => ActivationSource | Promise<ActivationSource>;
  /** this process is one rank of an MPI job (docs/design.md §3.4); rank 0 writes the run folder */
  comm?: Comm;
  /** with comm: 'data' (default; every rank reads the global batch and trains on its slice) or
   *  'latents' (every rank trains its share of the latents on the whole batch; each writes its
   *  own checkpoint and SAE shard) */
  parallel?: 'data' | 'latents';
}

export interface TrainResult {
  /** the trained SAE (under a latent split: rank 0's is the whole SAE read back from the folder
   *  when finished, other ranks' their own latents as an SAE of their own) */
  sae: Sae;
  source: ActivationSource;
  steps: number;
  tokens: number;
  /** false when stopped early by the signal or stopAfterSteps (a checkpoint was written) */
  finished: boolean;
  last: MetricsLine | null;
  /** how it stopped early: the abort reason, or 'stopAfterSteps' */
  stoppedBy?: string;
}

/** A prepared run: its data, sizes and derived values. */
interface Run {
  be: Backend;
  cfg: TrainConfig;
  out: string;
  /** the data's canonical spec (or cfg.data as given, with a source from the caller) */
  data: string;
  source: ActivationSource;
  d: number;
  n: number;
  B: number;
  dOut?: number;
  resolved: Resolved;
  /** the tokens the data holds, at most the budget */
  available: number;
  totalSteps: number;
  ckptEvery: number;
  /** the checkpoints to continue from, newest first (empty: a fresh start) */
  from: string[];
  /** a data sample for the init (fresh starts only), already scaled */
  sample: { x: Float32Array; y: Float32Array; rows: number } | null;
  /** the job's ranks (SINGLE for one process); rank 0 is the writer of the run folder */
  comm: Comm;
  writer: boolean;
  /** how the ranks share the work (null: one process) */
  split: 'data' | 'latents' | null;
  /** a latent split: this rank's latents of n (params, Adam and firing counters hold only them) */
  shard: LatentShard | null;
}

/** The trainer's mutable state. */
interface State {
  objective: Objective;
  /** --precision bf16: W_enc's bf16 copy, refreshed before every step */
  bf16: Bf16Encoder | null;
  adam: Adam<SaeParams>;
  tracker: FiringTracker;
  step: number;
  tokens: number;
  /** consecutive steps with the loss far above its start */
  aboveStart: number;
}

export async function train(be: Backend, rawCfg: TrainConfig, o: TrainOptions): Promise<TrainResult> {
  const cfg = parseTrainConfig(rawCfg);
  const comm = o.comm ?? SINGLE, writer = comm.rank === 0;
  requireFolder(o.out);
  const created = writer && entries(o.out).length === 0;
  // rank 0 owns the folder: it checks and writes it first; the other ranks then read it
  const release = writer ? lockFolder(o.out, `saekit train (${o.resume ? 'resume' : 'start'})`) : () => {};
  let run: Run | null = null;
  try {
    if (!writer) comm.barrier();
    run = await prepare(be, cfg, o, comm);
    if (writer && comm.size > 1) comm.barrier();
    const state = run.from.length === 0 ? initialize(run) : restoreNewestReadable(run);
    return await loop(run, state, o);
  } catch (err) {
    // a start that fails before its first checkpoint leaves nothing --resume would reuse (and
    // a folder this call created is removed); files it did not write are never touched
    if (writer && run && run.from.length === 0 && checkpointDirs(o.out).length === 0) discardRun(o.out, created, release);
    else if (writer && !run) discardRun(o.out, created, release, false);
    throw err;
  } finally {
    release();
  }
}

/** The folder's entries, less the lock and temp files of killed writers. */
function entries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f !== LOCK_FILE && !TEMP.test(f)) : [];
}
const TEMP = /\.tmp-\d+-[0-9a-f]{8}$/;

/** Removes temp files and half-written checkpoint folders that killed runs left (the lock
 *  guarantees no live writer owns them). */
function sweepTemps(out: string): void {
  for (const dir of [out, join(out, 'checkpoints')]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (TEMP.test(f)) rmSync(join(dir, f), { recursive: true, force: true });
  }
}

/** Restores the newest checkpoint that reads whole, saying which were skipped. */
function restoreNewestReadable(run: Run): State {
  for (const [i, dir] of run.from.entries()) {
    try {
      return restore(run, dir);
    } catch (err) {
      if (i === run.from.length - 1) throw err;
      process.stderr.write(`saekit: checkpoint ${dir} is unreadable (${(err as Error).message}); falling back to ${run.from[i + 1]}\n`);
    }
  }
  throw new Error(`${run.out}: no checkpoint to resume from`);
}

/** Opens the data, checks the run folder against cfg, derives sizes, writes config.json. */
async function prepare(be: Backend, given: TrainConfig, o: TrainOptions, comm: Comm): Promise<Run> {
  const { out } = o;
  const writer = comm.rank === 0;
  const cfg = o.source ? given : { ...given, data: formatDataSpec(parseDataSpec(given.data)) };
  const saved = o.resume ? readRunConfig(out) : null;
  if (saved) refuseConflicts(out, saved.cfg, cfg);
  if (o.resume && writer) sweepTemps(out);
  const ckpts = o.resume ? checkpointDirs(out) : [];
  if (!o.resume && writer && entries(out).length > 0) {
    throw new Error(`--out ${out} already exists and is not empty: ${checkpointDirs(out).length ? 'pass --resume to continue it, or ' : ''}choose a new folder`);
  }
  // data parallel: this rank reads its own slice of every global batch (its own shuffle buffer)
  const split = comm.size > 1 ? o.parallel ?? 'data' : null;
  const part = split === 'data' ? { rank: comm.rank, block: given.batch, ...rankRange(given.batch, comm.rank, comm.size) } : undefined;
  const open = async (): Promise<ActivationSource> => {
    if (!o.source) return openData(parseDataSpec(cfg.data), be, { shuffle: cfg.shuffle, seed: cfg.seed, ...(part ? { rank: part } : {}) });
    const rows = await o.source();
    return part ? new RankSlice(rows, part.block, part.lo, part.hi) : rows;
  };
  const source = await open();
  const d = source.d, n = latentsFor(cfg, d), B = cfg.batch;
  if (cfg.latents === undefined) checkArchitecture(cfg, n, `--latents ${n} (${cfg.expansion} × d=${d})`);
  // a transcoder maps the data's inputs to its targets (another space, width dOut)
  if (cfg.transcode && !source.dOut) {
    throw new Error(`data ${cfg.data} has no targets to transcode to (use shards from saekit extract --target-site, lm:...,targetSite=SITE, or synthetic:...,targetD=N)`);
  }
  const dOut = cfg.transcode ? source.dOut : undefined;
  const from = saved ? ckpts.map((c) => c.dir).reverse() : [];
  if (from.length && saved && saved.resolved.d !== d) throw new Error(`data ${cfg.data} has d=${d}, but the run in ${out} was trained on d=${saved.resolved.d}`);
  const arch = architecture(cfg.arch);
  if (split === 'data' && !arch.dataParallel) {
    throw new Error(`--parallel data: the ${cfg.arch} architecture couples the rows of a batch beyond sums the ranks can share (it splits topk only)`);
  }
  if (split === 'latents' && !arch.latentParallel) {
    throw new Error(`--parallel latents: the ${cfg.arch} architecture does not choose each row's code by a top k the ranks can merge (it splits topk only)`);
  }
  if (saved && Number(saved.resolved.ranks ?? 1) !== comm.size) {
    throw new Error(`--resume: the run in ${out} was trained by ${Number(saved.resolved.ranks ?? 1)} rank(s); resume it with the same number (mpirun -np ${Number(saved.resolved.ranks ?? 1)}), not ${comm.size}`);
  }
  const savedSplit = saved && Number(saved.resolved.ranks ?? 1) > 1 ? String(saved.resolved.parallel ?? 'data') : null;
  if (saved && savedSplit !== split) throw new Error(`--resume: the run in ${out} was trained with --parallel ${savedSplit}; resume it with --parallel ${savedSplit}`);
  if (split === 'data' && comm.size > B) throw new Error(`--parallel data: --batch ${B} has fewer rows than the ${comm.size} ranks`);
  if (split === 'latents' && comm.size > n) throw new Error(`--parallel latents: --latents ${n} is fewer than the ${comm.size} ranks`);
  const range = rankRange(n, comm.rank, split === 'latents' ? comm.size : 1);
  const shard: LatentShard | null = split === 'latents' ? { comm, lo: range.lo, count: range.hi - range.lo, total: n } : null;
  checkMemory(range.hi - range.lo, d, dOut ?? d, split === 'data' ? Math.ceil(B / comm.size) : B);
  let sample: Run['sample'] = null;
  let scale = 1;
  if (from.length) {
    scale = Number(saved!.resolved.input_scale) > 0 ? Number(saved!.resolved.input_scale) : 1;
  } else {
    // a sample from a separate reader (the training stream is untouched) for the input scale
    // (one constant so that E||x||² = d, docs/design.md §4.0) and the b_dec init
    sample = await readSample(o.source ? await o.source() : await openData(parseDataSpec(cfg.data), be), cfg, d, dOut);
    scale = cfg.normalize ? normalizingScale(sample.x, sample.rows, d, cfg.data) : 1;
    warnExtremeScale(sample.x, sample.rows, d, cfg.normalize);
    for (let e = 0; e < sample.rows * d; e++) sample.x[e]! *= scale;
    if (dOut) for (let e = 0; e < sample.rows * dOut; e++) sample.y[e]! *= scale;
  }
  // (data parallel: the rows of every rank's slice together)
  const rowsThere = wholeLength(source);
  const available = Number.isFinite(rowsThere) ? Math.min(cfg.tokens, rowsThere) : cfg.tokens;
  if (available < cfg.tokens && o.progress) process.stderr.write(`saekit: the data holds ${available} rows, fewer than the ${cfg.tokens} tokens asked for: training on them, with the schedule fitted to them\n`);
  const kept = from.length ? saved!.resolved : undefined;
  const resolved: Resolved = {
    // what an earlier session of this run recorded (its first loss, its init ratio, its default
    // learning rate and dead window, which later versions may choose differently) stays
    ...kept,
    d, latents: n, ...(dOut ? { d_out: dOut } : {}), data_description: source.description, lr: cfg.lr ?? kept?.lr ?? defaultLr(arch.lrLatents?.(archOptions(cfg), n) ?? n) * (arch.lrScale ?? 1), input_scale: scale,
    // the schedule, checkpoints and the dead window are laid over the tokens the data holds
    tokens_available: available,
    // the dead window as given (Gao et al. and sparsify: 10M tokens), not cut to fit a short run:
    // windows of 4–25% of a run flagged rare latents as dead, and AuxK then killed them
    // (EXPERIMENTS.md, "AuxK"); in a run shorter than the window no latent counts as dead
    dead_tokens_effective: kept?.dead_tokens_effective ?? Math.max(B, cfg.deadTokens),
    // the encoder GEMM's precision as it runs on this machine (bf16 falls back to f32 without a
    // native bf16 GEMM)
    precision: resolvePrecision(be, cfg.precision),
    // the number of ranks and how they split the work (a resumed run needs the same)
    ...(split ? { ranks: comm.size, parallel: split } : {}),
    ...arch.resolve?.(archOptions(cfg), { d, n }),
  };
  if (o.progress && !from.length && resolved.dead_tokens_effective > available) {
    process.stderr.write(`saekit: the dead window (${resolved.dead_tokens_effective} tokens, --dead-tokens) is longer than the ${available} tokens of this run: no latent will count as dead${Number(resolved.k_aux) > 0 ? ' and AuxK will not engage' : ''}\n`);
  }
  if (writer) {
    mkdirSync(out, { recursive: true });
    writeRunConfig(out, { cfg, resolved });
  }
  return {
    be, cfg, out, data: cfg.data, source, d, n, B, dOut, resolved, from, sample, comm, writer, split, shard,
    available,
    totalSteps: Math.ceil(available / B),
    ckptEvery: cfg.checkpointEvery > 0 ? cfg.checkpointEvery : Math.max(B, Math.ceil(available / 10)),
  };
}

/** Refuses a size that cannot fit before anything is allocated: parameters, gradients and
 *  Adam's two moments of W_enc [n, d] and W_dec [n, w], and the [B, n] pre-activations. */
function checkMemory(n: number, d: number, w: number, B: number): void {
  const params = n * (d + w) + n + w;
  const bytes = 4 * (4 * params + B * n);
  const gb = (b: number): string => (b / 2 ** 30).toPrecision(3);
  const largest = Math.max(n * d, n * w, B * n);
  if (bytes > totalmem() || largest > 2 ** 32 - 1) {
    throw new Error(`--latents ${n}: training needs about ${gb(bytes)} GB (parameters, gradients and Adam's moments of ${n} latents at d=${d}${w !== d ? `, d_out=${w}` : ''}, and the ${B}×${n} pre-activations), more than this machine's ${gb(totalmem())} GB${largest > 2 ** 32 - 1 ? ' and more than one array can hold' : ''}`);
  }
}

async function readSample(src: ActivationSource, cfg: TrainConfig, d: number, dOut?: number): Promise<{ x: Float32Array; y: Float32Array; rows: number }> {
  const rows = Math.min(4096, Math.max(cfg.batch, 256));
  const x = new Float32Array(rows * d);
  const y = dOut ? new Float32Array(rows * dOut) : x;
  const got = src.read(x, rows, dOut ? y : undefined);
  if (got === 0) throw new Error(`data ${cfg.data}: no rows`);
  return { x, y, rows: got };
}

/** Activations far from unit scale train badly at the default learning rate: say so before
 *  training, and how to fix it. */
function warnExtremeScale(x: Float32Array, rows: number, d: number, normalize: boolean): void {
  let sq = 0;
  for (let e = 0; e < rows * d; e++) sq += x[e]! * x[e]!;
  const ms = sq / Math.max(1, rows * d);
  if (!normalize && (ms < 1e-4 || ms > 1e4)) {
    process.stderr.write(`saekit: warning: the activations' mean square is ${ms.toExponential(2)} per dimension, far from 1; the learning rate assumes unit scale: pass --normalize\n`);
  }
}

/** Stops a run whose reconstruction stays far worse than where it started: FVU over
 *  DIVERGED_FACTOR times the first step's and over DIVERGED_FVU (far worse than predicting the
 *  mean) for DIVERGED_STEPS steps in a row, or over DIVERGED_ABS at all (every architecture's
 *  init starts near or below 1). (FVU, not the loss: a penalty that warms up raises the loss of
 *  a healthy run.) */
const DIVERGED_FACTOR = 10, DIVERGED_FVU = 2, DIVERGED_ABS = 100, DIVERGED_STEPS = 20;

/** Training stopped because it diverged (a non-finite loss, or the FVU rule above): a result of
 *  the settings (the learning rate, the data's scale), which a sweep may record and go on. */
export class TrainingDiverged extends Error {}

function checkDivergence(run: Run, st: State, fvu: number): void {
  if (run.resolved.start_fvu === undefined) {
    run.resolved.start_fvu = fvu;
    if (run.writer) writeRunConfig(run.out, { cfg: run.cfg, resolved: run.resolved });
  }
  const start = Number(run.resolved.start_fvu);
  st.aboveStart = (fvu > DIVERGED_FACTOR * start && fvu > DIVERGED_FVU) || fvu > DIVERGED_ABS ? st.aboveStart + 1 : 0;
  if (st.aboveStart >= DIVERGED_STEPS) {
    throw new TrainingDiverged(`training diverged at step ${st.step}: FVU has stayed at ${fvu.toPrecision(4)} (it started at ${start.toPrecision(4)}) for ${DIVERGED_STEPS} steps; ` +
      `try a lower --lr (now ${run.resolved.lr.toPrecision(3)})${run.cfg.normalize ? '' : ', or --normalize if the activations are far from unit scale'}`);
  }
}

function normalizingScale(x: Float32Array, rows: number, d: number, data: string): number {
  let sq = 0;
  for (let e = 0; e < rows * d; e++) sq += x[e]! * x[e]!;
  if (!(sq > 0)) throw new Error(`data ${data}: --normalize needs nonzero activations`);
  return Math.sqrt((d * rows) / sq);
}

function initialize(run: Run): State {
  const { be, cfg, d, n, dOut } = run;
  const arch = architecture(cfg.arch), opts = archOptions(cfg);
  const s = run.sample!;
  // a latent split: each rank makes its own latents of the single process's init (the
  // latentParallel architectures need no data-dependent scale, which would need every latent)
  const rows = run.shard ? { lo: run.shard.lo, hi: run.shard.lo + run.shard.count } : undefined;
  const mine = { d, n: localLatents(run), dOut, skip: cfg.skip === true };
  const params = initExtras(initParams(be, { d, n, dOut }, new Rng(seedFor(cfg.seed, 'sae-init')), s.y, s.rows, cfg.encoderInit, rows), { arch: cfg.arch, ...mine, ...arch.saeFields(opts, n) }, opts);
  if (arch.initScale === 'reconstruction' && !run.shard) {
    const sae: Sae = { cfg: { format: 'saekit-sae', arch: cfg.arch, d, n, k: 0, multiTopK: false, data: run.data, ...(dOut ? { dOut } : {}) }, params };
    // recorded: how far from the data's scale the unscaled init reconstructed
    run.resolved.init_recon_ratio = matchReconstructionScale(be, sae, s.x, s.y, s.rows);
    // a code set to a chosen L0 is then rescaled as a whole, keeping which latents fire
    if (arch.initCode?.(params, opts, { be, x: s.x, rows: s.rows, transcoder: dOut !== undefined })) matchReconstructionScale(be, sae, s.x, s.y, s.rows, true);
    if (run.writer) writeRunConfig(run.out, { cfg, resolved: run.resolved });
  }
  arch.afterInit?.(params, opts, dOut !== undefined);
  const { objective, bf16 } = objectiveOf(run, params);
  if (run.writer) writeFileAtomic(join(run.out, 'metrics.jsonl'), ['']);
  return { objective, bf16, adam: new Adam(objective.params), tracker: new FiringTracker(localLatents(run), run.resolved.dead_tokens_effective), step: 0, tokens: 0, aboveStart: 0 };
}

/** The latents this process trains (a rank's share under a latent split). */
function localLatents(run: Run): number {
  return run.shard?.count ?? run.n;
}

/** The architecture's objective over this process's parameters, with the encoder's bf16 copy
 *  when the run's precision is bf16. */
function objectiveOf(run: Run, params: SaeParams): { objective: Objective; bf16: Bf16Encoder | null } {
  const { be, cfg, d, dOut } = run;
  const bf16 = run.resolved.precision === 'bf16' ? new Bf16Encoder(params.W_enc) : null;
  const parallel = run.split === 'data' ? { comm: run.comm } : run.shard ? { shard: run.shard } : {};
  const objective = architecture(cfg.arch).objective({
    be, d, n: localLatents(run), dOut, batch: localRows(run, run.B).rows, seed: cfg.seed, options: archOptions(cfg), params, bf16, ...parallel,
  });
  return { objective, bf16 };
}

function restore(run: Run, dir: string): State {
  const { cfg, d, dOut } = run;
  const n = localLatents(run);
  // a latent split: this rank's file; data parallel: the trainer's state from rank 0's file (the
  // same on every rank), the data position from this rank's own
  const ranks = run.split ? run.comm.size : 1;
  const ck = readCheckpoint(dir, run.shard ? run.comm.rank : 0, ranks);
  const own = run.split === 'data' && run.comm.rank > 0 ? readCheckpoint(dir, run.comm.rank, ranks) : ck;
  const get = (name: string, len: number): Float32Array => {
    const t = ck.f32[name];
    if (!t || t.length !== len) throw new Error(`checkpoint ${dir}: tensor "${name}" missing or of the wrong size (expected ${len} values)`);
    return t;
  };
  const params = Object.fromEntries(paramEntries({ ...architecture(cfg.arch).saeFields(archOptions(cfg), n), d, n, arch: cfg.arch, dOut, skip: cfg.skip === true }).map(([p, shape]) => [p, get(p, shape.reduce((a, v) => a * v, 1))])) as SaeParams;
  const { objective, bf16 } = objectiveOf(run, params);
  const adam = new Adam(objective.params);
  for (const [p, t] of Object.entries(objective.params) as [ParamName, Float32Array][]) {
    adam.m[p]!.set(get(`adam.m.${p}`, t.length));
    adam.v[p]!.set(get(`adam.v.${p}`, t.length));
  }
  adam.step = ck.meta.adamStep;
  const objTensors = Object.fromEntries(Object.entries(ck.f32).filter(([k]) => k.startsWith('objective.')).map(([k, t]) => [k.slice(10), t]));
  objective.restore(ck.meta.objective ?? {}, objTensors);
  if (ck.sinceFired.length !== n) throw new Error(`checkpoint ${dir}: firing counters cover ${ck.sinceFired.length} latents, expected ${n}`);
  const tracker = new FiringTracker(n, run.resolved.dead_tokens_effective);
  tracker.sinceFired.set(ck.sinceFired);
  run.source.restore(sourceStateOf(own));
  if (ck.meta.tokens > cfg.tokens) throw new Error(`--tokens ${cfg.tokens}: the run in ${run.out} has already trained on ${ck.meta.tokens} tokens`);
  if (run.writer) truncateMetrics(join(run.out, 'metrics.jsonl'), ck.meta.step);
  return { objective, bf16, adam, tracker, step: ck.meta.step, tokens: ck.meta.tokens, aboveStart: 0 };
}

/** The saved SAE. It acts on raw activations: with inputs scaled by s during training,
 *  dividing b_enc, b_dec (and thresholds) by s gives the same latents divided by s and the
 *  reconstruction of x itself (the VAE's log-variance head is left as trained). */
function saeOf(run: Run, st: State): Sae {
  const { cfg, d, dOut } = run, scale = run.resolved.input_scale;
  const n = localLatents(run);
  const params = st.objective.saved();
  const fields = architecture(cfg.arch).saeFields(archOptions(cfg), n);
  const fold = (t: Float32Array): Float32Array => t.map((v) => v / scale);
  return {
    cfg: { format: 'saekit-sae', arch: cfg.arch, d, n, ...(dOut ? { dOut } : {}), multiTopK: false, ...fields, data: run.data,
      ...(run.resolved.precision === 'bf16' ? { precision: 'bf16' as const } : {}) },
    params: scale === 1 ? params : { ...params, b_enc: fold(params.b_enc), b_dec: fold(params.b_dec), ...(params.threshold ? { threshold: fold(params.threshold) } : {}) },
  };
}

/** Writes a checkpoint: one process's; every rank's own under a latent split; under data
 *  parallel rank 0's trainer state (the same on every rank) and every rank's data position. */
function checkpoint(run: Run, st: State): void {
  const sourceState = run.source.state();
  const objState = st.objective.state();
  const f32: Record<string, Float32Array> = {};
  if (run.split !== 'data' || run.writer) {
    // the trained parameters as they are (saved() may fold them), plus what saved() adds
    Object.assign(f32, st.objective.saved(), st.objective.params);
    for (const p of Object.keys(st.objective.params) as ParamName[]) {
      f32[`adam.m.${p}`] = st.adam.m[p]!;
      f32[`adam.v.${p}`] = st.adam.v[p]!;
    }
    for (const [k, t] of Object.entries(objState.tensors)) f32[`objective.${k}`] = t;
  }
  writeCheckpoint(run.out, {
    meta: { step: st.step, tokens: st.tokens, adamStep: st.adam.step, source: sourceState.json, objective: objState.json },
    f32, sinceFired: st.tracker.sinceFired, sourceTensors: sourceState.tensors ?? {},
  }, 2, run.split ? run.comm : undefined);
}

/** One batch: forward/backward, the optimizer and the firing statistics. Returns the metrics
 *  line, or null at the end of the data. */
function step(run: Run, st: State, x: Float32Array, y: Float32Array | undefined): { res: ReturnType<Objective['step']>; rows: number; lr: number } | null {
  const { cfg, d, B } = run, scale = run.resolved.input_scale;
  // data parallel: this rank reads its slice of the global batch, and the ranks count the rows
  const want = Math.min(B, cfg.tokens - st.tokens);
  const mine = run.source.read(x, localRows(run, want).rows, y);
  const counted = new Float64Array([mine]);
  if (run.split === 'data') run.comm.sum(counted);
  const rows = counted[0]!;
  if (rows === 0) return null;
  if (scale !== 1) {
    for (let e = 0; e < mine * d; e++) x[e]! *= scale;
    if (y) for (let e = 0; e < mine * (run.dOut ?? d); e++) y[e]! *= scale;
  }
  // the f32 master weights moved in the last optimizer step: the encoder's bf16 copy follows once
  st.bf16?.refresh(run.be);
  const res = st.objective.step(x, mine, st.tracker.deadMask(), st.tokens / cfg.tokens, y);
  if (run.split === 'data') sumAcrossRanks(run, st, res, mine, rows);
  if (!Number.isFinite(res.loss)) {
    throw new TrainingDiverged(`training diverged at step ${st.step}: loss is ${res.loss} (try a lower --lr; the data's scale may be far from 1)`);
  }
  checkDivergence(run, st, res.fvu);
  if (run.split !== 'data') st.tracker.record(rows, res.acts, res.indices);
  if (cfg.clipGrad > 0) clipGradNorm(st.objective.grads, cfg.clipGrad, run.shard ? { comm: run.comm, replicated: ['b_dec'] } : undefined);
  const lr = lrAt(st.step, run.totalSteps, run.resolved.lr, cfg.warmup, cfg.decay);
  // unit-norm decoder rows (all but ReLU and VAE): gradient projected off each row, renormalized after
  st.adam.update(run.be, st.objective.params, st.objective.grads, lr, st.objective.unitRows);
  st.objective.afterStep(res);
  st.step++;
  st.tokens += rows;
  return { res, rows, lr };
}

/** Rank r's rows of a global batch of `rows`: [lo, lo + rows) (all of them for one process or a
 *  latent split). */
function localRows(run: Run, rows: number): { lo: number; rows: number } {
  if (run.split !== 'data') return { lo: 0, rows };
  const { lo, hi } = rankRange(rows, run.comm.rank, run.comm.size);
  return { lo, rows: hi - lo };
}

/** After each rank's forward and backward on its slice: the gradients summed over the ranks (in
 *  rank order, the same bits everywhere; the losses were normalized by the global batch, so the
 *  sum is the global batch's gradient), the step's metrics made the global batch's, and the
 *  firing statistics updated with every rank's latents. */
function sumAcrossRanks(run: Run, st: State, res: ReturnType<Objective['step']>, mine: number, rows: number): void {
  const { comm, n } = run;
  for (const name of Object.keys(st.objective.grads).sort()) comm.sum(st.objective.grads[name as ParamName]!);
  const extraKeys = Object.keys(res.extra).sort();
  // loss, fvu, aux loss and fvu_4k are sums over rows already divided by the global normalizer;
  // L0 is a mean per row; other extras (running statistics) are the global batch's mean
  const m = new Float64Array(4 + extraKeys.length);
  m[0] = res.loss; m[1] = res.fvu; m[2] = res.l0 * mine; m[3] = res.auxLoss;
  extraKeys.forEach((key, i) => { m[4 + i] = key === 'fvu_4k' ? res.extra[key]! : res.extra[key]! * mine; });
  comm.sum(m);
  res.loss = m[0]!; res.fvu = m[1]!; res.l0 = m[2]! / rows; res.auxLoss = m[3]!;
  extraKeys.forEach((key, i) => { res.extra[key] = key === 'fvu_4k' ? m[4 + i]! : m[4 + i]! / rows; });
  const fired = new Float32Array(n);
  for (let e = 0; e < res.acts.length; e++) if (res.acts[e]! > 0 && res.indices[e]! >= 0) fired[res.indices[e]!] = 1;
  comm.sum(fired);
  st.tracker.recordFired(rows, fired);
}

async function loop(run: Run, st: State, o: TrainOptions): Promise<TrainResult> {
  const { cfg, out, B, d } = run;
  const x = new Float32Array(B * d);
  const y = run.dOut ? new Float32Array(B * run.dOut) : undefined;
  const progress = o.progress ? new Progress(o.label ?? 'train', run.available, 'tokens', st.tokens) : null;
  const metricsPath = join(out, 'metrics.jsonl');
  const pending: string[] = [];
  let last: MetricsLine | null = null;
  let nextCkpt = (Math.floor(st.tokens / run.ckptEvery) + 1) * run.ckptEvery;
  let stepsHere = 0;
  const done = (finished: boolean, stoppedBy?: string): TrainResult => {
    if (run.writer) flushMetrics(metricsPath, pending);
    progress?.done();
    return { sae: saeOf(run, st), source: run.source, steps: st.step, tokens: st.tokens, finished, last, ...(stoppedBy ? { stoppedBy } : {}) };
  };
  while (st.tokens < cfg.tokens) {
    const got = step(run, st, x, y);
    if (!got) {
      process.stderr.write(`saekit: data ${run.source.description} ended after ${st.tokens} tokens (budget ${cfg.tokens})\n`);
      break;
    }
    stepsHere++;
    const { res, lr } = got;
    if (st.step % cfg.logEvery === 0 || st.tokens >= run.available) {
      last = {
        step: st.step, tokens: st.tokens, loss: res.loss, fvu: res.fvu, l0: res.l0, dead_fraction: deadFraction(run, st), aux_loss: res.auxLoss,
        ...res.extra, lr, tokens_per_s: progress?.rate(st.tokens) ?? 0,
      };
      pending.push(JSON.stringify(last));
      progress?.update(st.tokens, `fvu ${res.fvu.toFixed(4)} L0 ${res.l0.toFixed(1)} dead ${(100 * last.dead_fraction).toFixed(1)}%`);
    }
    let stoppedBy = o.signal?.aborted ? String(o.signal.reason ?? 'abort') : o.stopAfterSteps !== undefined && stepsHere >= o.stopAfterSteps ? 'stopAfterSteps' : null;
    if (run.comm.size > 1) {
      // every rank stops at the same step when any rank was asked to (else the others would
      // wait for it in the next sum)
      const asked = new Float64Array([stoppedBy ? 1 : 0]);
      run.comm.sum(asked);
      if (asked[0]! > 0) stoppedBy ??= 'another rank stopped';
    }
    if (st.tokens >= nextCkpt || stoppedBy) {
      if (run.writer) flushMetrics(metricsPath, pending);
      // (with ranks, each writes its own part)
      if (run.writer || run.split) checkpoint(run, st);
      nextCkpt = (Math.floor(st.tokens / run.ckptEvery) + 1) * run.ckptEvery;
    }
    if (stoppedBy && st.tokens < cfg.tokens) return done(false, stoppedBy);
    // let signal handlers run between steps
    if (st.step % 4 === 0) await new Promise((r) => setImmediate(r));
  }
  const res = done(true);
  if (run.shard) {
    checkpoint(run, st);
    const whole = { ...res.sae.cfg, n: run.n };
    saveSaeShard(out, whole, res.sae.params, run.comm);
    if (run.writer) res.sae = loadSae(out);
  } else {
    if (run.writer || run.split) checkpoint(run, st);
    if (run.writer) saveSae(out, res.sae);
  }
  return res;
}

/** The fraction of dead latents (over every rank's latents under a latent split). */
function deadFraction(run: Run, st: State): number {
  if (!run.shard) return st.tracker.deadFraction();
  const dead = new Float64Array([st.tracker.deadCount()]);
  run.comm.sum(dead);
  return dead[0]! / run.n;
}

/** Removes what a failed fresh start wrote (and the folder, when this call created it). */
function discardRun(out: string, created: boolean, release: () => void, wrote = true): void {
  if (wrote) for (const name of ['config.json', 'metrics.jsonl', 'checkpoints']) rmSync(join(out, name), { recursive: true, force: true });
  if (created && entries(out).length === 0) {
    release();
    if (existsSync(out) && readdirSync(out).length === 0) rmdirSync(out);
  }
}

function flushMetrics(path: string, pending: string[]): void {
  if (!pending.length) return;
  const prev = existsSync(path) ? readFileSync(path, 'utf8') : '';
  writeFileAtomic(path, [prev, pending.join('\n') + '\n']);
  pending.length = 0;
}

/** Drops metrics lines logged after the checkpoint a run resumes from. */
function truncateMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() && (JSON.parse(l) as MetricsLine).step <= step);
  writeFileAtomic(path, [keep.length ? keep.join('\n') + '\n' : '']);
}

