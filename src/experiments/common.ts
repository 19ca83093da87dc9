/** Shared pieces of the `saekit experiment` studies: scales, a resumable train-and-evaluate. */
import { join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import type { ActivationSource } from '../data/source.js';
import { heldOut, parseDataSpec } from '../data/spec.js';
import { SyntheticSource } from '../data/synthetic.js';
import { evaluateSae, type EvalResult } from '../eval/metrics.js';
import { parseTrainConfig } from '../train/config.js';
import { train, type TrainResult } from '../train/trainer.js';

export type Scale = 'tiny' | 'small' | 'medium';

/** Synthetic data and model sizes per scale. Small: about 10 s per 1M-token run on 2 cores;
 *  tiny is a smoke test of the machinery (seconds), not a result. */
export const SCALES: Record<Scale, { data: Record<string, number>; latents: number; k: number; tokens: number; batch: number; evalTokens: number }> = {
  tiny: { data: { d: 16, features: 32, active: 4 }, latents: 64, k: 4, tokens: 32_768, batch: 512, evalTokens: 2048 },
  small: { data: { d: 64, features: 512, active: 8 }, latents: 1024, k: 8, tokens: 1_000_000, batch: 2048, evalTokens: 32768 },
  medium: { data: { d: 128, features: 2048, active: 16 }, latents: 4096, k: 16, tokens: 4_000_000, batch: 4096, evalTokens: 65536 },
};

export function synthSpec(opts: Record<string, number>): string {
  return `synthetic:${Object.entries(opts).map(([k, v]) => `${k}=${v}`).join(',')}`;
}

/** Trains (or finishes, or reuses) the run in dir; finished runs are not redone. */
export async function trainRun(be: Backend, dir: string, settings: Record<string, unknown>): Promise<TrainResult> {
  const res = await train(be, parseTrainConfig(settings, dir), { out: dir, resume: true });
  if (!res.finished) throw new Error(`${dir}: training stopped early`);
  return res;
}

export function evalAt(be: Backend, res: TrainResult, source: ActivationSource, tokens: number, k?: number): EvalResult {
  return evaluateSae(be, res.sae, source, tokens, 4096, k);
}

/** A fresh reader of the held-out part of synthetic data (the one held-out rule: stream 1). */
export function heldOutSynthetic(be: Backend, data: Record<string, number>): SyntheticSource {
  const { spec } = heldOut(parseDataSpec(synthSpec(data)), Infinity, { force: true });
  if (spec.kind !== 'synthetic') throw new Error('experiments run on synthetic data');
  return new SyntheticSource(spec.given, be);
}

export const runDir = (out: string, name: string): string => join(out, 'runs', name);
