/**
 * Trainer checkpoints: checkpoints/step-N/ holding state.safetensors (parameters, Adam
 * moments, firing counters, data-source tensors) and trainer.json (step, tokens, adam_step,
 * the data source's position, the architecture's state). A checkpoint folder appears whole or not at all: it is written
 * under a temp name and renamed. With ranks every rank writes its own state-R-of-P.safetensors
 * into the same temp folder (a latent split: its latents' parameters, Adam moments and firing
 * counters, the shared b_dec; data parallel: rank 0 the trainer's state, the same on every rank,
 * and every rank its own data position, also kept in its file's header); rank 0 adds
 * trainer.json, naming the number of ranks, once every rank's file is written, and renames the
 * folder.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { together, type Comm } from '../compute/comm.js';
import { tempPathFor, writeJsonAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { fromDiskKeys, snake, toDiskKeys } from '../io/naming.js';
import { SafetensorsFile, writeSafetensors, type TensorOut } from '../io/safetensors.js';
import type { SourceState } from '../data/source.js';

export interface TrainerMeta {
  step: number;
  tokens: number;
  adamStep: number;
  source: Record<string, unknown>;
  /** the architecture's own state (e.g. BatchTopK's running threshold) */
  objective?: Record<string, unknown>;
  /** the number of ranks of a split run (one state file each) */
  ranks?: number;
}

/** The state file of rank r of P (P = 1: the one state.safetensors). */
export function stateFile(rank: number, size: number): string {
  return size > 1 ? `state-${rank}-of-${size}.safetensors` : 'state.safetensors';
}

export interface CheckpointData {
  meta: TrainerMeta;
  /** every float tensor of the trainer's state, by name */
  f32: Record<string, Float32Array>;
  sinceFired: Float64Array;
  sourceTensors: Record<string, Float32Array>;
}

export function checkpointDirs(runDir: string): { step: number; dir: string }[] {
  const root = join(runDir, 'checkpoints');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => /^step-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), dir: join(root, m[0]) }))
    .filter((c) => existsSync(join(c.dir, 'trainer.json')))
    .sort((a, b) => a.step - b.step);
}

/** Writes a checkpoint (one process, or every rank of a split run, each with its own data). */
export function writeCheckpoint(runDir: string, data: CheckpointData, keep = 2, comm?: Comm): string {
  const root = join(runDir, 'checkpoints');
  const ranks = comm && comm.size > 1 ? comm : null, leader = !ranks || ranks.rank === 0;
  const final = join(root, `step-${data.meta.step}`);
  // the ranks share a temp name (pid 0, the step in hex: swept as a temp on resume)
  const tmp = ranks ? `${final}.tmp-0-${(data.meta.step >>> 0).toString(16).padStart(8, '0')}` : tempPathFor(final);
  const tensors: Record<string, TensorOut> = {};
  for (const [name, t] of Object.entries(data.f32)) tensors[name] = { dtype: 'F32', shape: [t.length], data: t };
  for (const [name, t] of Object.entries(data.sourceTensors)) tensors[`source.${name}`] = { dtype: 'F32', shape: [t.length], data: t };
  tensors.sinceFired = { dtype: 'F64', shape: [data.sinceFired.length], data: data.sinceFired };
  try {
    if (leader) {
      mkdirSync(root, { recursive: true });
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp);
    }
    const file = join(tmp, stateFile(ranks?.rank ?? 0, ranks?.size ?? 1));
    if (ranks) {
      ranks.barrier();
      // each rank's data position in its own file's header
      together(ranks, `checkpoint step-${data.meta.step}`, () => writeSafetensors(file, tensors, { source: JSON.stringify(data.meta.source) }));
    } else {
      writeSafetensors(file, tensors);
    }
    if (leader) {
      writeJsonAtomic(join(tmp, 'trainer.json'), toDiskKeys({ ...data.meta, ...(ranks ? { ranks: ranks.size } : {}) }));
      rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
    }
  } catch (err) {
    if (leader) rmSync(tmp, { recursive: true, force: true });
    const kept = checkpointDirs(runDir).at(-1);
    throw new Error(`${(err as Error).message}\n  checkpoint step-${data.meta.step} was not written; ${kept ? `${kept.dir} (step ${kept.step}) is intact: make room, then --resume` : 'no earlier checkpoint exists'}`);
  }
  if (leader) for (const old of checkpointDirs(runDir).slice(0, -keep)) rmSync(old.dir, { recursive: true, force: true });
  return final;
}

/** Reads a checkpoint: the one state file, or rank r's of a run split over P ranks. */
export function readCheckpoint(dir: string, rank = 0, size = 1): CheckpointData {
  const metaPath = join(dir, 'trainer.json');
  const meta = fromDiskKeys(readJsonObject(metaPath)) as unknown as TrainerMeta;
  for (const key of ['step', 'tokens', 'adamStep'] as const) {
    if (!Number.isInteger(meta[key]) || meta[key] < 0) throw new Error(`${metaPath}: field "${snake(key)}" must be a non-negative integer, got ${JSON.stringify(meta[key])}`);
  }
  if ((meta.ranks ?? 1) !== size) throw new Error(`${metaPath}: written by ${meta.ranks ?? 1} rank(s), read by ${size}`);
  const file = SafetensorsFile.open(join(dir, stateFile(rank, size)));
  try {
    const f32: Record<string, Float32Array> = {};
    const sourceTensors: Record<string, Float32Array> = {};
    let sinceFired: Float64Array | null = null;
    for (const [name, info] of file.tensors) {
      if (name === 'sinceFired') sinceFired = file.read(name) as Float64Array;
      else if (info.dtype !== 'F32') throw new Error(`${file.path}: tensor "${name}" has dtype ${info.dtype}, expected F32`);
      else if (name.startsWith('source.')) sourceTensors[name.slice(7)] = file.readF32(name);
      else f32[name] = file.readF32(name);
    }
    if (!sinceFired) throw new Error(`${file.path}: no "sinceFired" tensor: not a saekit trainer checkpoint`);
    const source = file.metadata.source;
    if (source === undefined) return { meta, f32, sinceFired, sourceTensors };
    let own: Record<string, unknown>;
    try {
      own = JSON.parse(source) as Record<string, unknown>;
    } catch {
      throw new Error(`${file.path}: the header's "source" (this rank's data position) is not JSON`);
    }
    return { meta: { ...meta, source: own }, f32, sinceFired, sourceTensors };
  } finally {
    file.close();
  }
}

export function sourceStateOf(data: CheckpointData): SourceState {
  return { json: data.meta.source, tensors: data.sourceTensors };
}
