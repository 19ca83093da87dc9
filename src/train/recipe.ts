/**
 * Hyperparameters for a new size without a sweep (`saekit recipe`, `train --recipe`): the
 * learning rate, token budget, batch and dead-latent window for N latents, from the fits that
 * `saekit experiment scaling` stores (fits.json), or, without one, the published rules (Gao et
 * al. 2024: lr = 2e-4 / √(N / 2^14), batch 4,096 (their runs used larger), a 10M-token dead
 * window; no published token budget, so saekit's default applies). The dead window stays at
 * 10M either way: shorter windows let AuxK kill latents (EXPERIMENTS.md, "The dead window").
 */
import { existsSync } from 'node:fs';
import { readJsonObject } from '../io/json.js';
import { jointLoss, type JointFit, type PowerFit } from '../analysis/scaling.js';
import { DEFAULT_DEAD_TOKENS, DEFAULT_DECAY, defaultLr } from './config.js';

/** What fits.json holds (written by the scaling experiment). */
export interface ScalingFits {
  source: string;
  data: string;
  d: number;
  batch: number;
  /** best lr against N */
  lr: PowerFit;
  /** tokens until FVU is within 5% of its value at the end of the constant-lr phase, against N */
  tokens: PowerFit;
  joint: JointFit;
  /** the sizes the fits cover */
  latents: [number, number];
  ks: number[];
}

export interface Recipe {
  latents: number;
  lr: number;
  tokens?: number;
  batch: number;
  deadTokens: number;
  /** the FVU the joint fit predicts at k, when a fit and k are given */
  predictedFvu?: number;
  /** where each number comes from */
  basis: string;
  warnings: string[];
}

export function readFits(path: string): ScalingFits {
  if (!existsSync(path)) throw new Error(`--recipe ${path}: no such file (saekit experiment scaling writes fits.json)`);
  const f = readJsonObject(path) as unknown as ScalingFits;
  for (const key of ['lr', 'tokens', 'joint', 'latents'] as const) if (!f[key]) throw new Error(`${path}: field "${key}" missing (is this a fits.json from saekit experiment scaling?)`);
  return f;
}

export function recipeFor(latents: number, o: { fits?: ScalingFits; k?: number } = {}): Recipe {
  const f = o.fits;
  if (!f) {
    return {
      latents, lr: defaultLr(latents), batch: 4096, deadTokens: DEFAULT_DEAD_TOKENS,
      basis: 'published: Gao et al. 2024 (lr = 2e-4/√(N/2^14), a 10M-token dead window); no published token budget', warnings: [],
    };
  }
  const warnings: string[] = [];
  if (latents < f.latents[0] / 2 || latents > f.latents[1] * 2) warnings.push(`${latents} latents is outside the fitted range ${f.latents[0]}–${f.latents[1]} (×2): an extrapolation`);
  if (o.k !== undefined && (o.k < Math.min(...f.ks) / 2 || o.k > Math.max(...f.ks) * 2)) warnings.push(`k = ${o.k} is outside the fitted ks ${f.ks.join(', ')}`);
  // the fit is the constant-lr phase's tokens to converge; the budget adds saekit's default decay
  const tokens = Math.round((f.tokens.c * latents ** f.tokens.p) / (1 - DEFAULT_DECAY));
  return {
    latents, lr: f.lr.c * latents ** f.lr.p, tokens, batch: f.batch,
    // Gao et al.'s window: shorter ones let AuxK kill latents on real activations (EXPERIMENTS.md, the dead window)
    deadTokens: DEFAULT_DEAD_TOKENS,
    ...(o.k !== undefined ? { predictedFvu: jointLoss(f.joint, latents, o.k) } : {}),
    basis: `fitted by ${f.source} on ${f.data}`, warnings,
  };
}
