/**
 * The SAE trainer: a token budget of batches through forward/backward, the decoder-norm
 * constraint, Adam, firing statistics, metrics.jsonl, atomic checkpoints (every N tokens
 * and on SIGINT/SIGTERM) and an exact resume: the checkpoint holds every piece of trainer
 * state, so a resumed run ends with the same bits as an uninterrupted one.
 *
 * Step arithmetic: steps = ceil(tokens / batch); tokens seen = Σ rows of each batch.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { openSource } from '../data/open.js';
import type { ActivationSource } from '../data/source.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { initParams, paramEntries, saveSae, type Sae, type SaeParams } from '../sae/common.js';
import { Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { Adam, clipGradNorm } from './adam.js';
import { checkpointDirs, readCheckpoint, sourceStateOf, writeCheckpoint } from './checkpoint.js';
import { defaultLr, parseTrainConfig, type TrainConfig } from './config.js';
import { FiringTracker } from './dead.js';
import { initExtras, makeObjective, type Objective } from './objective.js';
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
  resume?: boolean;
  /** print a progress bar / lines to stderr */
  progress?: boolean;
  /** stop (as if interrupted, with a checkpoint) after this many steps in this process; for tests */
  stopAfterSteps?: number;
}

export interface TrainResult {
  sae: Sae;
  source: ActivationSource;
  steps: number;
  tokens: number;
  /** false when stopped early by a signal or stopAfterSteps (a checkpoint was written) */
  finished: boolean;
  last: MetricsLine | null;
}

/** The run's resolved settings as written to config.json. */
interface RunConfig extends TrainConfig {
  d: number;
  data_description: string;
  resolved_lr: number;
  resolved_k_aux: number;
  /** the constant inputs are multiplied by during training (1 unless normalize) */
  input_scale: number;
  dead_tokens_effective: number;
}

function prepareRunDir(out: string, resume: boolean): void {
  if (existsSync(out) && readdirSync(out).length > 0 && !resume) {
    throw new Error(`--out ${out} already exists and is not empty: pass --resume to continue it, or choose a new folder`);
  }
  mkdirSync(out, { recursive: true });
}

export async function train(be: Backend, rawCfg: TrainConfig, o: TrainOptions): Promise<TrainResult> {
  let cfg = parseTrainConfig(rawCfg);
  const { out } = o;
  const ckpts = o.resume ? checkpointDirs(out) : [];
  let savedScale: number | null = null;
  if (o.resume && existsSync(join(out, 'config.json'))) {
    // a resumed run continues with the configuration it started with
    const saved = readJsonObject(join(out, 'config.json')) as unknown as RunConfig;
    const { d: _d, data_description: _dd, resolved_lr: _lr, resolved_k_aux: _ka, dead_tokens_effective: _dt, input_scale, ...rest } = saved;
    cfg = parseTrainConfig(rest, join(out, 'config.json'));
    savedScale = typeof input_scale === 'number' && input_scale > 0 ? input_scale : 1;
  }
  const source = await openSource(cfg.data, be, cfg.shuffle, cfg.seed);
  prepareRunDir(out, Boolean(o.resume));
  const d = source.d, n = cfg.latents, B = cfg.batch;
  // a transcoder maps the data's inputs to its targets (another space, width dOut)
  if (cfg.transcode && !source.dOut) {
    throw new Error(`data ${cfg.data} has no targets to transcode to (use shards from saekit extract --target-site, lm:...,targetSite=SITE, or synthetic:...,targetD=N)`);
  }
  const dOut = cfg.transcode ? source.dOut : undefined;
  const dY = dOut ?? d;
  const lr = cfg.lr ?? defaultLr(n);
  const kAux = Math.min(n, cfg.kAux ?? Math.floor(d / 2));
  const deadTokens = Math.max(B, Math.min(cfg.deadTokens, Math.floor(cfg.tokens / 4)));
  const totalSteps = Math.ceil(cfg.tokens / B);
  const ckptEvery = cfg.checkpointEvery > 0 ? cfg.checkpointEvery : Math.max(B, Math.ceil(cfg.tokens / 10));
  // a sample from a separate reader (the training stream is untouched) for the input scale
  // (DESIGN 4.0: one constant so that E||x||² = d) and the b_dec init; a resumed run has both
  const resumed = ckpts.length > 0 && savedScale !== null;
  const sampleRows = resumed ? 0 : Math.min(4096, Math.max(B, 256));
  const sample = new Float32Array(sampleRows * d);
  const sampleY = dOut ? new Float32Array(sampleRows * dOut) : sample;
  const got = resumed ? 0 : (await openSource(cfg.data, be)).read(sample, sampleRows, dOut ? sampleY : undefined);
  if (!resumed && got === 0) throw new Error(`data ${cfg.data}: no rows`);
  let scale = 1;
  if (resumed) {
    scale = savedScale!;
  } else if (cfg.normalize) {
    let sq = 0;
    for (let e = 0; e < got * d; e++) sq += sample[e]! * sample[e]!;
    if (!(sq > 0)) throw new Error(`data ${cfg.data}: --normalize needs nonzero activations`);
    scale = Math.sqrt((d * got) / sq);
  }
  // one constant for inputs and targets, so the saved transcoder folds it the same way
  for (let e = 0; e < got * d; e++) sample[e]! *= scale;
  if (dOut) for (let e = 0; e < got * dOut; e++) sampleY[e]! *= scale;
  const runCfg: RunConfig = { ...cfg, d, data_description: source.description, resolved_lr: lr, resolved_k_aux: kAux, dead_tokens_effective: deadTokens, input_scale: scale };
  if (!ckpts.length) writeJsonAtomic(join(out, 'config.json'), runCfg);

  const x = new Float32Array(B * d);
  const y = dOut ? new Float32Array(B * dOut) : undefined;
  let all: SaeParams;
  const tracker = new FiringTracker(n, deadTokens);
  let step = 0, tokens = 0;
  let objective: Objective;
  let adam: Adam<SaeParams>;

  if (ckpts.length) {
    const ckDir = ckpts[ckpts.length - 1]!.dir;
    const ck = readCheckpoint(ckDir);
    const get = (name: string, len: number): Float32Array => {
      const t = ck.f32[name];
      if (!t || t.length !== len) throw new Error(`checkpoint ${ckDir}: tensor "${name}" missing or of the wrong size (expected ${len} values)`);
      return t;
    };
    all = Object.fromEntries(paramEntries({ d, n, arch: cfg.arch, dOut }).map(([p, shape]) => [p, get(p, shape.reduce((a, v) => a * v, 1))])) as SaeParams;
    objective = makeObjective(be, cfg, d, n, kAux, B, all, dOut);
    adam = new Adam(objective.params);
    for (const [p, t] of Object.entries(objective.params)) {
      adam.m[p as keyof SaeParams]!.set(get(`adam.m.${p}`, t!.length));
      adam.v[p as keyof SaeParams]!.set(get(`adam.v.${p}`, t!.length));
    }
    adam.step = ck.meta.adamStep;
    const objTensors = Object.fromEntries(Object.entries(ck.f32).filter(([k]) => k.startsWith('objective.')).map(([k, t]) => [k.slice(10), t]));
    objective.restore(ck.meta.objective ?? {}, objTensors);
    if (ck.sinceFired.length !== n) throw new Error(`checkpoint: firing counters cover ${ck.sinceFired.length} latents, expected ${n}`);
    tracker.sinceFired.set(ck.sinceFired);
    source.restore(sourceStateOf(ck));
    step = ck.meta.step;
    tokens = ck.meta.tokens;
    truncateMetrics(join(out, 'metrics.jsonl'), step);
  } else {
    all = initExtras(cfg, initParams(be, { d, n, dOut }, new Rng(cfg.seed), sampleY, got, cfg.encoderInit), d, n, dOut);
    objective = makeObjective(be, cfg, d, n, kAux, B, all, dOut);
    adam = new Adam(objective.params);
    writeFileAtomic(join(out, 'metrics.jsonl'), ['']);
  }

  // the saved SAE acts on raw activations: with inputs scaled by s during training, dividing
  // b_enc, b_dec (and thresholds) by s gives the same latents divided by s and the
  // reconstruction of x itself (the VAE's log-variance head is left as trained)
  const sae = (): Sae => {
    const { params, cfg: archCfg } = objective.saved();
    const fold = (t: Float32Array | undefined): Float32Array | undefined => t && t.map((v) => v / scale);
    return {
      cfg: { format: 'saekit-sae', ...archCfg, d, n, ...(dOut ? { dOut } : {}), multiTopK: cfg.multiTopK, data: cfg.data },
      params: scale === 1 ? params : { ...params, b_enc: fold(params.b_enc)!, b_dec: fold(params.b_dec)!, ...(params.threshold ? { threshold: fold(params.threshold) } : {}) },
    };
  };
  const checkpoint = (): string => {
    const sourceState = source.state();
    const objState = objective.state();
    const f32: Record<string, Float32Array> = { ...objective.saved().params as Record<string, Float32Array> };
    for (const p of Object.keys(objective.params) as (keyof SaeParams)[]) {
      f32[`adam.m.${p}`] = adam.m[p]!;
      f32[`adam.v.${p}`] = adam.v[p]!;
    }
    for (const [k, t] of Object.entries(objState.tensors)) f32[`objective.${k}`] = t;
    return writeCheckpoint(out, {
      meta: { step, tokens, adamStep: adam.step, source: sourceState.json, objective: objState.json },
      f32,
      sinceFired: tracker.sinceFired,
      sourceTensors: sourceState.tensors ?? {},
    });
  };

  let stopSignal: string | null = null;
  const onSignal = (sig: string) => () => { stopSignal = sig; };
  const sigint = onSignal('SIGINT'), sigterm = onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  const progress = o.progress ? new Progress('train', cfg.tokens, 'tokens', tokens) : null;
  let last: MetricsLine | null = null;
  let nextCkpt = (Math.floor(tokens / ckptEvery) + 1) * ckptEvery;
  let stepsHere = 0;
  const metricsPath = join(out, 'metrics.jsonl');
  const pending: string[] = [];
  try {
    while (tokens < cfg.tokens) {
      const want = Math.min(B, cfg.tokens - tokens);
      const rows = source.read(x, want, y);
      if (scale !== 1) for (let e = 0; e < rows * d; e++) x[e]! *= scale;
      if (y && scale !== 1) for (let e = 0; e < rows * dY; e++) y[e]! *= scale;
      if (rows === 0) {
        process.stderr.write(`saekit: data ${source.description} ended after ${tokens} tokens (budget ${cfg.tokens})\n`);
        break;
      }
      const dead = tracker.deadMask();
      const res = objective.step(x, rows, dead, tokens / cfg.tokens, y);
      if (!Number.isFinite(res.loss)) {
        throw new Error(`training diverged at step ${step}: loss is ${res.loss} (try a lower --lr; the data's scale may be far from 1)`);
      }
      tracker.record(rows, res.acts, res.indices);
      if (cfg.clipGrad > 0) clipGradNorm(objective.grads, cfg.clipGrad);
      const lrNow = lrAt(step, totalSteps, lr, cfg.warmup, cfg.decay);
      // unit-norm decoder rows (all but ReLU and VAE): gradient projected off each row, renormalized after
      adam.update(be, objective.params, objective.grads, lrNow, objective.unitRows);
      objective.afterStep(res);
      step++;
      stepsHere++;
      tokens += rows;
      if (step % cfg.logEvery === 0 || tokens >= cfg.tokens) {
        last = {
          step, tokens, loss: res.loss, fvu: res.fvu, l0: res.l0, dead_fraction: tracker.deadFraction(), aux_loss: res.auxLoss,
          ...res.extra, lr: lrNow, tokens_per_s: progress?.rate(tokens) ?? 0,
        };
        pending.push(JSON.stringify(last));
        progress?.update(tokens, `fvu ${res.fvu.toFixed(4)} L0 ${res.l0.toFixed(1)} dead ${(100 * last.dead_fraction).toFixed(1)}%`);
      }
      const stopNow = stopSignal !== null || (o.stopAfterSteps !== undefined && stepsHere >= o.stopAfterSteps);
      if (tokens >= nextCkpt || stopNow) {
        flushMetrics(metricsPath, pending);
        checkpoint();
        nextCkpt = (Math.floor(tokens / ckptEvery) + 1) * ckptEvery;
      }
      if (stopNow && tokens < cfg.tokens) {
        flushMetrics(metricsPath, pending);
        progress?.done();
        if (stopSignal) process.stderr.write(`saekit: ${stopSignal}: checkpoint written at step ${step}; continue with --resume\n`);
        return { sae: sae(), source, steps: step, tokens, finished: false, last };
      }
      // let signal handlers run between steps
      if (step % 4 === 0) await new Promise((r) => setImmediate(r));
    }
  } finally {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
  flushMetrics(metricsPath, pending);
  progress?.done();
  checkpoint();
  saveSae(out, sae());
  return { sae: sae(), source, steps: step, tokens, finished: true, last };
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
