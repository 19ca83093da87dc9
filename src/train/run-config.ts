/**
 * A run's configuration on disk and the one resolver the banner, the trainer and the final
 * evaluation use (docs/design.md §6.1). config.json holds the training settings (snake_case,
 * only the run's architecture's fields) and, under `resolved`, what was derived from them and
 * the data: d, d_out, the learning rate, the input scale, the effective dead window, and the
 * architecture's own values (k_aux). On --resume the saved settings are the truth: a flag that
 * differs is refused, except the fields of CHANGEABLE_ON_RESUME.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatDataSpec, parseDataSpec } from '../data/spec.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { fromDiskKeys, toDiskKeys } from '../io/naming.js';
import { ARCHITECTURES } from '../sae/arch/registry.js';
import { CHANGEABLE_ON_RESUME, parseTrainConfig, SharedTrainConfig, type TrainConfig } from './config.js';

export interface Resolved {
  d: number;
  /** the number of latents (--latents, or --expansion × d) */
  latents?: number;
  d_out?: number;
  /** the data's own description (the source's one line) */
  data_description: string;
  lr: number;
  /** the constant inputs are multiplied by during training (1 unless normalize) */
  input_scale: number;
  dead_tokens_effective: number;
  /** the tokens the run can train on: the budget, or fewer when the data holds fewer */
  tokens_available?: number;
  /** the FVU of the run's first step (divergence is judged against it) */
  start_fvu?: number;
  /** the architecture's derived values (e.g. k_aux) */
  [arch: string]: number | string | undefined;
}

export interface RunRecord {
  cfg: TrainConfig;
  resolved: Resolved;
}

export const runConfigPath = (out: string): string => join(out, 'config.json');

/** Keys 0.1 wrote at the top level of config.json for derived values. */
const LEGACY_DERIVED: Record<string, keyof Resolved> = {
  d: 'd', dataDescription: 'data_description', resolvedLr: 'lr', resolvedKAux: 'k_aux', inputScale: 'input_scale', deadTokensEffective: 'dead_tokens_effective',
};

/** Defaults that changed since 0.1: JumpReLU/ReLU centred their input, n was 4,096, no shuffle. */
const LEGACY_DEFAULTS: Record<string, unknown> = { centerInput: true, latents: 4096, shuffle: 'none' };

/** Reads RUN/config.json (this version's or 0.1's layout), or null when there is none. */
export function readRunConfig(out: string): RunRecord | null {
  const path = runConfigPath(out);
  if (!existsSync(path)) return null;
  const raw = readJsonObject(path);
  const { resolved: savedResolved, ...rest } = raw as { resolved?: Record<string, unknown> } & Record<string, unknown>;
  const fields = fromDiskKeys(rest);
  const resolved: Record<string, unknown> = { ...(savedResolved ?? {}) };
  for (const [old, key] of Object.entries(LEGACY_DERIVED)) {
    if (old in fields) { resolved[key] = fields[old]; delete fields[old]; }
  }
  // 0.1 recorded every architecture's fields; keep only the run's own
  const own = new Set([...Object.keys(SharedTrainConfig.shape), ...Object.keys(ARCHITECTURES.get(String(fields.arch ?? 'topk'))?.options.shape ?? {})]);
  for (const key of Object.keys(fields)) if (!own.has(key)) delete fields[key];
  // a run started before these defaults changed (its resolved values have no `latents`) keeps
  // the settings it was started with
  if (savedResolved?.latents === undefined) {
    for (const [key, was] of Object.entries(LEGACY_DEFAULTS)) if (own.has(key) && fields[key] === undefined) fields[key] = was;
  }
  return { cfg: parseTrainConfig(fields, path), resolved: resolved as Resolved };
}

export function writeRunConfig(out: string, rec: RunRecord): void {
  const cfg = Object.fromEntries(Object.entries(rec.cfg).filter(([, v]) => v !== undefined));
  writeJsonAtomic(runConfigPath(out), { ...toDiskKeys(cfg), resolved: rec.resolved });
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The fields where `wanted` differs from the saved settings (except the changeable ones). */
export function configConflicts(saved: TrainConfig, wanted: Record<string, unknown>): { field: string; saved: unknown; wanted: unknown }[] {
  return Object.entries(wanted)
    .filter(([k, v]) => v !== undefined && !(CHANGEABLE_ON_RESUME as readonly string[]).includes(k) && !same(v, saved[k]))
    .map(([k, v]) => ({ field: k, saved: saved[k], wanted: v }));
}

/** Throws naming each conflicting field as its flag with both values. */
export function refuseConflicts(out: string, saved: TrainConfig, wanted: Record<string, unknown>): void {
  const bad = configConflicts(saved, wanted);
  if (!bad.length) return;
  const list = bad.map((c) => `--${kebab(c.field)} ${c.wanted === undefined ? '(unset)' : JSON.stringify(c.wanted)} (the run has ${c.saved === undefined ? 'it unset' : JSON.stringify(c.saved)})`).join('; ');
  throw new Error(`--resume: ${runConfigPath(out)} differs from the command line: ${list}. A resumed run keeps its configuration ` +
    `(only ${CHANGEABLE_ON_RESUME.map((f) => '--' + kebab(f)).join(', ')} may change): drop those flags, or train into a new --out`);
}

/**
 * The configuration a `train` invocation runs with. Without --resume, or when the run folder
 * has no config.json yet, the flags (over the defaults). With --resume and a config.json, the
 * saved settings, with the changeable fields taken from the flags; any other differing flag is
 * refused.
 */
export function resolveRunConfig(flags: Record<string, unknown>, out: string, resume: boolean, where = 'train'): { cfg: TrainConfig; resuming: boolean } {
  const saved = resume ? readRunConfig(out) : null;
  if (!saved) return { cfg: parseTrainConfig(flags, where), resuming: false };
  // the run recorded its data spec in canonical form (lm:… with every default spelled out):
  // the command line's is compared in that form too
  refuseConflicts(out, saved.cfg, typeof flags.data === 'string' ? { ...flags, data: formatDataSpec(parseDataSpec(flags.data)) } : flags);
  const changed = Object.fromEntries(CHANGEABLE_ON_RESUME.filter((k) => flags[k] !== undefined).map((k) => [k, flags[k]]));
  return { cfg: parseTrainConfig({ ...saved.cfg, ...changed }, runConfigPath(out)), resuming: true };
}
