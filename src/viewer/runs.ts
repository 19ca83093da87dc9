/**
 * The runs under a folder (a sweep's, or any folder of runs), for the multi-run dashboard and
 * the overview's plot of sibling runs: each run's status, configuration, progress, last logged
 * metrics and held-out result, and which runs are Pareto-optimal on the MSE–L0 plane.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { paretoFrontier } from '../eval/frontier.js';
import { metricRows } from '../eval/report.js';
import { readJsonOrNull } from '../io/json.js';
import { lockHolder } from '../io/lock.js';
import { hasSaeWeights } from '../sae/folder.js';

export type RunStatus = 'running' | 'finished' | 'stopped';

export interface RunSummary {
  /** the run's folder relative to the scanned folder */
  name: string;
  path: string;
  /** running: its lock is held by a live process; finished: the SAE's weights and eval.json
   *  written; stopped: neither (killed or failed; `saekit train --out RUN --resume` continues it) */
  status: RunStatus;
  arch: string;
  latents?: number;
  k?: number;
  data?: string;
  /** tokens the run is set to train on, and trained so far (its last logged step) */
  target?: number;
  tokens: number;
  steps: number;
  last?: Record<string, number>;
  /** the held-out result (eval.json) */
  l0?: number;
  fvu?: number;
  pareto: boolean;
  indexed: boolean;
}

/** A JSON object file, or null (missing, half written, or not an object). */
const readObject = (path: string): Record<string, unknown> | null => {
  const v = readJsonOrNull(path);
  return v && typeof v === 'object' ? v as Record<string, unknown> : null;
};

function summarize(root: string, run: string): RunSummary {
  const settings = readObject(join(run, 'config.json')) ?? {};
  const sae = readObject(join(run, 'cfg.json')) ?? {};
  const ev = readObject(join(run, 'eval.json'));
  const logged = metricRows(run, Infinity);
  const steps = logged.length, last = logged[steps - 1] as unknown as Record<string, number> | undefined;
  const finished = hasSaeWeights(run) && ev !== null;
  const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  return {
    name: relative(root, run) || basename(run), path: run,
    status: lockHolder(run) ? 'running' : finished ? 'finished' : 'stopped',
    arch: String(settings.arch ?? sae.arch ?? 'topk'), latents: num(sae.n ?? settings.latents), k: num(sae.k ?? settings.k),
    data: typeof settings.data === 'string' ? settings.data : typeof sae.data === 'string' ? sae.data : undefined,
    target: num(settings.tokens), tokens: num(last?.tokens) ?? 0, steps, ...(last ? { last } : {}),
    l0: num(ev?.l0), fvu: num(ev?.fvu), pareto: false, indexed: existsSync(join(run, 'viewer.sqlite')),
  };
}

const isRun = (dir: string): boolean => existsSync(join(dir, 'config.json')) || existsSync(join(dir, 'cfg.json'));

/** Every run folder under `root` (itself, its children and grandchildren: a folder of sweeps),
 *  sorted by name, Pareto-optimal finished runs marked. */
export function scanRuns(root: string): RunSummary[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (isRun(dir)) {
      found.push(dir);
      return;
    }
    if (depth === 0) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'checkpoints') walk(join(dir, e.name), depth - 1);
    }
  };
  if (existsSync(root) && statSync(root).isDirectory()) walk(root, 3);
  const runs = found.map((r) => summarize(root, r)).sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  const points = runs.filter((r) => r.l0 !== undefined && r.fvu !== undefined).map((r) => ({ label: r.name, group: 'all', l0: r.l0!, fvu: r.fvu! }));
  const onFrontier = new Set(paretoFrontier(points).map((p) => p.label));
  for (const r of runs) r.pareto = onFrontier.has(r.name);
  return runs;
}
