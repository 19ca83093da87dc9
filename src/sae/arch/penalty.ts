/**
 * What the two penalized architectures (JumpReLU's L0 penalty, ReLU's L1) share: λ, its
 * warm-up, and the target-L0 mode (docs/design.md §4.2): a controller that adapts λ during
 * training so the running L0 settles at a chosen value, so any architecture can be trained to
 * the same L0 points and compared on the frontier at matched L0.
 *
 *   after warm-up, every step:  L̄ ← EMA₀.₉₅(L0) (bias-corrected),
 *                               λ ← λ·exp(clip(γ·ln(L̄ / target), ±maxStep)),  γ = 0.02
 * JumpReLU's L0 follows λ only as fast as its thresholds move, so it steers with maxStep 0.005
 * (λ changes at most 0.5% a step; faster controllers overshoot and leave L0 far below the
 * target); ReLU's L0 follows λ at once and steers unclipped. Measured on synthetic d=32,
 * 128 features, 391 steps, target 8: JumpReLU reaches held-out L0 7.7 (unclipped: 4.6), ReLU 7.8.
 */
import { z } from 'zod';
import type { Backend } from '../../compute/backend.js';
import type { SaeParams } from '../common.js';
import { foldCentring, preActivationQuantiles } from '../primitives.js';

/** The option fields, with the architecture's default λ. */
export function penaltyOptions(defaultLambda: number, penalty: string) {
  return {
    lambda: z.number().min(0).default(defaultLambda).describe(`sparsity coefficient: the L0 penalty (jumprelu, default 0.003) or the decoder-norm-weighted L1 divided by the batch's RMS scale (relu, default 0.1); both in FVU units, independent of the data's scale; with --target-l0, its starting value`),
    lambdaWarmup: z.number().min(0).max(1).default(0.05).describe('fraction of the run over which lambda rises linearly from 0 (jumprelu, relu)'),
    targetL0: z.number().positive().optional().describe(`adapt lambda (the ${penalty}) during training so the running L0 settles at this value (jumprelu, relu)`),
    initL0: z.number().min(0).optional().describe('set the code at init so about this many latents fire per token (jumprelu: the thresholds, relu: b_enc; per-latent quantiles of the pre-activations of a data sample); default: --target-l0 where given, else jumprelu starts at --theta0 and relu with b_enc = 0; 0 starts that way with a target too'),
    centerInput: z.boolean().default(false).describe('encode x − b_dec instead of x during training (jumprelu, relu; off by default as in Gemma Scope and Anthropic\'s April 2024 update, so the penalty cannot drag b_dec off the data mean; the TopK family always centres)'),
  };
}
export interface PenaltyOptions {
  lambda: number;
  lambdaWarmup: number;
  targetL0?: number;
  initL0?: number;
  centerInput: boolean;
}

const EMA = 0.95, GAIN = 0.02, MIN = 1e-9, MAX = 1e3;

/** λ over a run: warm-up, then constant or steered toward the target L0. Its state goes into checkpoints. */
export class LambdaSchedule {
  readonly o: PenaltyOptions;
  /** the largest change of ln λ in one step */
  readonly maxStep: number;
  /** the steered base λ (the option's value until the controller moves it) */
  base: number;
  l0Ema = 0;
  l0Steps = 0;
  constructor(o: PenaltyOptions, maxStep = Infinity) {
    this.o = o;
    this.maxStep = maxStep;
    this.base = o.lambda;
  }

  /** λ for a step at `progress` (fraction of the run done). */
  at(progress: number): number {
    const f = this.o.lambdaWarmup > 0 ? Math.min(1, progress / this.o.lambdaWarmup) : 1;
    return this.base * f;
  }

  /** After a step with this L0: in target mode (and past warm-up) steer λ. */
  observe(l0: number, progress: number): void {
    const target = this.o.targetL0;
    if (target === undefined || progress < this.o.lambdaWarmup) return;
    this.l0Steps++;
    this.l0Ema = EMA * this.l0Ema + (1 - EMA) * l0;
    const running = this.l0Ema / (1 - EMA ** this.l0Steps);
    if (!(running > 0)) return;
    const step = Math.max(-this.maxStep, Math.min(this.maxStep, GAIN * Math.log(running / target)));
    this.base = Math.min(MAX, Math.max(MIN, (this.base || MIN) * Math.exp(step)));
  }

  state(): Record<string, number> {
    return { lambda_base: this.base, l0_ema: this.l0Ema, l0_steps: this.l0Steps };
  }

  restore(json: Record<string, unknown>): void {
    if (typeof json.lambda_base === 'number') this.base = json.lambda_base;
    this.l0Ema = Number(json.l0_ema ?? 0);
    this.l0Steps = Number(json.l0_steps ?? 0);
  }
}

/** The initial-code hooks the two penalized architectures share: with --init-l0 (default
 *  --target-l0), `place` puts each latent's firing point at the pre-activation it exceeds on
 *  l0/n of the sample's rows (JumpReLU's threshold, ReLU's bias); an uncentred encoder takes the
 *  centred init's pre-activations. Measured with target L0 8 (synthetic d = 64, 128 features,
 *  4 active, 1,024 latents, 500k tokens, lr 3.2e-3): started at the target, ReLU reaches L0 7.9
 *  at FVU 0.270 (MMCS 0.998) against 8.3 / 0.334 (0.885) from a dense start; JumpReLU 6.8 / 0.057
 *  against 7.8 / 0.057. */
export function penaltyInit(place: (params: SaeParams, quantiles: Float32Array) => void) {
  return {
    initCode(params: SaeParams, o: PenaltyOptions, c: { be: Backend; x: Float32Array; rows: number; transcoder: boolean }): boolean {
      const l0 = o.initL0 ?? o.targetL0;
      if (!l0) return false;
      place(params, preActivationQuantiles(c.be, params, c.x, c.rows, c.transcoder, l0 / params.b_enc.length));
      return true;
    },
    afterInit(params: SaeParams, o: PenaltyOptions, transcoder: boolean): void {
      if (!o.centerInput && !transcoder) params.b_enc.set(foldCentring(params, -1).b_enc);
    },
  };
}

/** The trained parameters in saekit's centred form (an uncentred encoder folded). */
export const centredForm = (params: SaeParams, o: PenaltyOptions, transcoder: boolean): SaeParams =>
  (o.centerInput || transcoder ? params : foldCentring(params));
