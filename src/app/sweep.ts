/**
 * Sweeps: a grid over training-config fields (architecture, k, latents, lr, seed, …), run one
 * after another into <out>/<name>. Resumable: finished runs (with eval.json) are skipped and
 * an interrupted run continues from its checkpoint.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Backend } from '../compute/backend.js';
import type { Comm } from '../compute/comm.js';
import { formatSummary, readEvalSummary, type EvalSummary } from '../eval/report.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { lockFolder } from '../io/lock.js';
import { readSettingsFile } from '../io/json.js';
import { parseTrainConfig, trainFieldNames } from '../train/config.js';
import { trainAndReport } from './train.js';

export const SweepConfig = z.object({
  out: z.string().min(1).describe('folder of the sweep; each run goes to <out>/<name>'),
  base: z.record(z.string(), z.unknown()).default({}).describe('training settings shared by every run'),
  grid: z.record(z.string(), z.array(z.unknown()).min(1)).describe('field → list of values; the runs are the cartesian product'),
  evalTokens: z.number().int().positive().default(65536).describe('held-out tokens for each run\'s evaluation'),
  evalData: z.string().optional().describe('held-out data (default: synthetic stream 1, or the training data)'),
}).strict();
export type SweepConfig = z.infer<typeof SweepConfig>;

export interface SweepRun {
  name: string;
  settings: Record<string, unknown>;
}

/** The cartesian product of the grid over base, each named by its grid values (k=8,seed=0). */
export function expandGrid(cfg: SweepConfig, where = 'sweep config'): SweepRun[] {
  const fields = trainFieldNames();
  for (const key of [...Object.keys(cfg.grid), ...Object.keys(cfg.base)]) {
    if (!fields.includes(key)) throw new Error(`${where}: "${key}" is not a training setting (expected one of ${fields.join(', ')})`);
  }
  let runs: SweepRun[] = [{ name: '', settings: { ...cfg.base } }];
  for (const [key, values] of Object.entries(cfg.grid)) {
    runs = runs.flatMap((r) => values.map((v) => ({
      name: r.name ? `${r.name},${key}=${String(v)}` : `${key}=${String(v)}`,
      settings: { ...r.settings, [key]: v },
    })));
  }
  // a folder name per run: the grid values, made safe; where that changed the name or two
  // runs share it, a short hash of the run's full settings keeps it unique
  const count = new Map<string, number>();
  for (const r of runs) count.set(r.name, (count.get(r.name) ?? 0) + 1);
  return runs.map((r) => {
    const safe = r.name.replace(/[^A-Za-z0-9=,._-]/g, '_') || 'run';
    const unique = safe === r.name && count.get(r.name) === 1;
    return { ...r, name: unique ? safe : `${safe}-${createHash('sha256').update(JSON.stringify(r.settings)).digest('hex').slice(0, 8)}` };
  });
}

export interface SweepRow {
  name: string;
  summary: EvalSummary;
}

/** Reads and validates a sweep config file; errors name the file and field. */
export function readSweepConfig(path: string): SweepConfig {
  const parsed = SweepConfig.safeParse(readSettingsFile(path));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${path}: ${issue.path.length ? `field "${issue.path.join('.')}"` : 'config'}: ${issue.message}`);
  }
  return parsed.data;
}

/** How a sweep runs: its stop signal, its log, and (under mpirun) the ranks that share the grid. */
export interface SweepOptions { signal?: AbortSignal; log?: (line: string) => void; comm?: Comm }

/**
 * Runs every grid point one after another into <out>/<name> (each a train-then-report job);
 * finished runs (with eval.json) are not redone, interrupted ones resume. Every run's settings
 * are validated before the first one starts. Under mpirun (comm), rank r trains grid points
 * r, r + P, r + 2P, …, one at a time, each as one process; rank 0 gathers the results at the
 * end. Returns the rows (rank 0; [] on the other ranks), or null when stopped early.
 */
export async function runSweep(be: Backend, path: string, o: SweepOptions = {}): Promise<SweepRow[] | null> {
  const cfg = readSweepConfig(path);
  const runs = expandGrid(cfg, path);
  for (const r of runs) parseTrainConfig(r.settings, `${path} (run ${r.name})`);
  const release = !o.comm || o.comm.rank === 0 ? lockFolder(cfg.out, `saekit sweep ${path}`) : () => {};
  try {
    return await sweepRuns(be, path, cfg, runs, o);
  } finally {
    release();
  }
}

async function sweepRuns(be: Backend, path: string, cfg: SweepConfig, runs: SweepRun[], o: SweepOptions): Promise<SweepRow[] | null> {
  const { rank, size } = o.comm ?? { rank: 0, size: 1 };
  const who = size > 1 ? `rank ${rank}: ` : '';
  if (rank === 0) writeJsonAtomic(join(cfg.out, 'sweep.json'), cfg);
  let stopped = false;
  for (const [i, run] of runs.entries()) {
    if (i % size !== rank) continue;
    const dir = join(cfg.out, run.name);
    if (existsSync(join(dir, 'eval.json'))) {
      o.log?.(`${who}[${i + 1}/${runs.length}] ${run.name}: done already`);
      continue;
    }
    o.log?.(`${who}[${i + 1}/${runs.length}] ${run.name}`);
    const res = await trainAndReport(be, { settings: run.settings, out: dir, resume: true, evalTokens: cfg.evalTokens, evalData: cfg.evalData, progress: rank === 0, signal: o.signal, where: `${path} (run ${run.name})` });
    if (!res.summary) {
      stopped = true;
      break;
    }
    o.log?.(`${who}${run.name}:\n${formatSummary(res.summary)}`);
  }
  if (o.comm && size > 1) {
    // every rank has finished its share (or stopped): gather
    const any = new Float64Array([stopped ? 1 : 0]);
    o.comm.sum(any);
    stopped = any[0]! > 0;
  }
  if (stopped) return null;
  if (rank !== 0) return [];
  const rows = runs.map((run) => ({ name: run.name, summary: readEvalSummary(join(cfg.out, run.name, 'eval.json')) }));
  writeFileAtomic(join(cfg.out, 'summary.md'), [sweepTable(rows) + '\n']);
  return rows;
}

export function sweepTable(rows: SweepRow[]): string {
  return ['| run | L0 | FVU | normalized MSE | never fired (held-out) | MMCS |', '|---|---|---|---|---|---|',
    ...rows.map(({ name, summary: s }) => `| ${name} | ${s.l0.toFixed(2)} | ${s.fvu.toFixed(5)} | ${s.normalized_mse.toFixed(5)} | ${(100 * s.never_fired_fraction).toFixed(2)}% | ${s.mmcs?.toFixed(4) ?? '–'} |`)].join('\n');
}
