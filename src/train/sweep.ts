/**
 * Sweeps: a grid over training-config fields (architecture, k, latents, lr, seed, …), run one
 * after another into <out>/<name>. Resumable: finished runs (with eval.json) are skipped and
 * an interrupted run continues from its checkpoint.
 */
import { z } from 'zod';
import { TrainConfig } from './config.js';

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
  const fields = Object.keys(TrainConfig.shape);
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
  return runs.map((r) => ({ ...r, name: r.name.replace(/[^A-Za-z0-9=,._-]/g, '_') || 'run' }));
}
