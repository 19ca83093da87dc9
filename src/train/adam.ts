/** Adam over a named parameter set (β = (0.9, 0.999), ε = 6.25e-10 as in Gao et al.). */
import type { Backend } from '../compute/backend.js';
import type { Comm } from '../compute/comm.js';

export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 6.25e-10 };

export class Adam<P extends { [name: string]: Float32Array | undefined }> {
  readonly m: P;
  readonly v: P;
  step = 0;
  constructor(params: P) {
    const zeros = (): P => Object.fromEntries(Object.entries(params).map(([k, t]) => [k, new Float32Array(t!.length)])) as P;
    this.m = zeros();
    this.v = zeros();
  }

  /**
   * One step on every parameter with learning rate lr. Parameters named in unitRows (name →
   * row width) are matrices kept at unit row norm: their gradient loses its component along
   * each row before the step and the rows are renormalized after it (one fused pass).
   */
  update(be: Backend, params: P, grads: P, lr: number, unitRows: Record<string, number> = {}): void {
    this.step++;
    const h = { lr, ...ADAM_DEFAULTS, step: this.step };
    for (const name of Object.keys(params)) {
      const p = params[name], g = grads[name], m = this.m[name], v = this.v[name];
      if (!p || !g || !m || !v) continue;
      const d = unitRows[name];
      if (d) be.adamUnitRows(p, g, m, v, p.length / d, d, h);
      else be.adam(p, g, m, v, h);
    }
  }
}

/** Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before.
 *  Under a latent split the norm is over every rank's gradients: the tensors each rank holds
 *  whole (replicated, the same on every rank) count once. */
export function clipGradNorm(grads: { [name: string]: Float32Array | undefined }, maxNorm: number,
  ranks?: { comm: Comm; replicated: string[] }): number {
  const sq = new Float64Array(1);
  for (const [name, g] of Object.entries(grads)) {
    if (!g || (ranks && ranks.comm.rank > 0 && ranks.replicated.includes(name))) continue;
    for (let e = 0; e < g.length; e++) sq[0]! += g[e]! * g[e]!;
  }
  ranks?.comm.sum(sq);
  const norm = Math.sqrt(sq[0]!);
  if (maxNorm > 0 && norm > maxNorm) {
    const f = maxNorm / norm;
    for (const g of Object.values(grads)) if (g) for (let e = 0; e < g.length; e++) g[e]! *= f;
  }
  return norm;
}
