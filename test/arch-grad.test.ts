// Backwards of JumpReLU, ReLU+L1 and the VAE: finite differences of independent float64 losses
// where the loss is smooth; JumpReLU's threshold pseudo-derivative against its formula
// (docs/design.md §4.2), the persistent-KDE sums against their definition; the VAE's analytic KL against
// Monte Carlo and its reparameterized reconstruction term against the closed-form expectation.
import { describe, expect, it } from 'vitest';
import { referenceBackend as be } from '../src/compute/backend.js';
import type { SaeParams } from '../src/sae/common.js';
import { jumpreluForwardBackward, KdeState } from '../src/sae/arch/jumprelu.js';
import { reluForwardBackward } from '../src/sae/arch/relu.js';
import { gaussianKl, vaeForwardBackward } from '../src/sae/arch/vae.js';
import { foldCentring } from '../src/sae/primitives.js';
import { Rng } from '../src/util/rng.js';
import { checkFd } from './helpers.js';

const B = 6, d = 5, n = 9;

function params(rng: Rng, extra: Partial<SaeParams> = {}): SaeParams {
  return { W_enc: rng.normals(n * d, 0.6), b_enc: rng.normals(n, 0.3), W_dec: rng.normals(n * d, 0.5), b_dec: rng.normals(d, 0.2), ...extra };
}

/** float64 helpers shared by the losses below */
/** pre-activations of row b; a transcoder (dIn given), or an uncentred encoder, does not
 *  centre its input by b_dec */
function pre64(p: SaeParams, x: Float32Array, b: number, W = p.W_enc, bias = p.b_enc, dIn?: number, uncentred = false): number[] {
  const w = dIn ?? d;
  return Array.from({ length: n }, (_, i) => {
    let s = bias[i]!;
    for (let c = 0; c < w; c++) s += (x[b * w + c]! - (dIn || uncentred ? 0 : p.b_dec[c]!)) * W[i * w + c]!;
    return s;
  });
}
function denom64(x: Float32Array, w = d): number {
  let t = 0;
  for (let c = 0; c < w; c++) {
    let m = 0;
    for (let b = 0; b < B; b++) m += x[b * w + c]! / B;
    for (let b = 0; b < B; b++) t += (x[b * w + c]! - m) ** 2;
  }
  return t;
}
/** ||x̂_b − target_b||² with x̂ = z·W_dec + b_dec, W_dec [n, w] */
function sqErr(p: SaeParams, x: Float32Array, b: number, z: number[], w = d): number {
  let s = 0;
  for (let c = 0; c < w; c++) {
    let r = p.b_dec[c]!;
    for (let i = 0; i < n; i++) r += z[i]! * p.W_dec[i * w + c]!;
    s += (r - x[b * w + c]!) ** 2;
  }
  return s;
}


const zeros = (p: SaeParams): SaeParams => Object.fromEntries(Object.entries(p).map(([k, t]) => [k, new Float32Array(t!.length)])) as unknown as SaeParams;

describe('JumpReLU', () => {
  const rng = new Rng(3);
  const theta = Float32Array.from({ length: n }, () => 0.05 + 0.4 * rng.uniform());
  const p = params(rng, { threshold: theta });
  const x = rng.normals(B * d);
  const o = { lambda: 0.02, eps: 0.3, kdeDecay: 0 };
  const loss64 = (uncentred = false): number => {
    let sse = 0, l0 = 0;
    for (let b = 0; b < B; b++) {
      const pre = pre64(p, x, b, p.W_enc, p.b_enc, undefined, uncentred);
      const z = pre.map((v, i) => (v > theta[i]! ? v : 0));
      l0 += z.filter((v) => v !== 0).length;
      sse += sqErr(p, x, b, z);
    }
    return sse / denom64(x) + (o.lambda * l0) / B;
  };

  it('encoder/decoder gradients equal finite differences (the active set is fixed under small steps)', () => {
    const grads = zeros(p);
    const r = jumpreluForwardBackward(be, p, x, B, o, grads);
    expect(r.loss).toBeCloseTo(loss64(), 6);
    expect(r.l0).toBeGreaterThan(0);
    checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], loss64);
    // uncentred (the default when training): b_dec reaches the loss only through x̂
    const g2 = zeros(p);
    const r2 = jumpreluForwardBackward(be, p, x, B, { ...o, centre: false }, g2);
    expect(r2.loss).toBeCloseTo(loss64(true), 6);
    expect(r2.loss).not.toBeCloseTo(r.loss, 3);
    checkFd(p, g2, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], () => loss64(true));
  });

  it('an uncentred encoder folded into saekit\'s centred form codes every row the same', () => {
    const folded = foldCentring(p);
    for (let b = 0; b < B; b++) {
      const raw = pre64(p, x, b, p.W_enc, p.b_enc, undefined, true);
      const centred = pre64(folded, x, b);
      raw.forEach((v, i) => expect(centred[i]).toBeCloseTo(v, 5));
    }
    const back = foldCentring(folded, -1);
    Array.from(back.b_enc).forEach((v, i) => expect(v).toBeCloseTo(p.b_enc[i]!, 5));
  });

  it('the threshold gradient is the rectangle-kernel pseudo-derivative −(1/ε)·Σ_window(θ·∂L/∂z + λ/B)', () => {
    const grads = zeros(p);
    const r = jumpreluForwardBackward(be, p, x, B, o, grads);
    const den = denom64(x);
    const want = new Float64Array(n);
    let inWindow = 0;
    for (let b = 0; b < B; b++) {
      const pre = pre64(p, x, b);
      const z = pre.map((v, i) => (v > theta[i]! ? v : 0));
      // ∂L/∂z_i = 2(x̂ − x)·W_dec,i / denom
      const resid = Array.from({ length: d }, (_, c) => {
        let v = p.b_dec[c]!;
        for (let i = 0; i < n; i++) v += z[i]! * p.W_dec[i * d + c]!;
        return v - x[b * d + c]!;
      });
      for (let i = 0; i < n; i++) {
        if (Math.abs(pre[i]! - theta[i]!) >= o.eps / 2) continue;
        inWindow++;
        let dz = 0;
        for (let c = 0; c < d; c++) dz += (2 * resid[c]! * p.W_dec[i * d + c]!) / den;
        want[i]! += -(theta[i]! * dz + o.lambda / B) / o.eps;
      }
    }
    expect(inWindow).toBeGreaterThan(3);
    expect(r.windowEntries).toBe(inWindow);
    for (let i = 0; i < n; i++) expect(grads.threshold![i]).toBeCloseTo(want[i]!, 5);
  });

  it('persistent KDE: the θ-gradient uses bias-corrected moving averages of the per-batch window sums', () => {
    const kde = new KdeState(n);
    const perBatch: Float32Array[] = [];
    const xs = [x, rng.normals(B * d), rng.normals(B * d)];
    const beta = 0.8;
    let last = zeros(p);
    for (const xb of xs) {
      const g0 = zeros(p);
      jumpreluForwardBackward(be, p, xb, B, o, g0);
      perBatch.push(g0.threshold!);
      last = zeros(p);
      jumpreluForwardBackward(be, p, xb, B, { ...o, kdeDecay: beta }, last, kde);
    }
    // with θ fixed the per-batch gradient is linear in the window sums, so the persistent one is
    // the same bias-corrected average of the per-batch gradients
    const w = [beta ** 2 * (1 - beta), beta * (1 - beta), 1 - beta], corr = 1 - beta ** 3;
    for (let i = 0; i < n; i++) {
      const want = perBatch.reduce((a, g, j) => a + w[j]! * g[i]!, 0) / corr;
      expect(last.threshold![i]).toBeCloseTo(want, 5);
    }
  });
});

describe('ReLU + decoder-norm-weighted L1', () => {
  it('every gradient equals finite differences of the float64 loss', () => {
    const rng = new Rng(5);
    const p = params(rng);
    const x = rng.normals(B * d);
    const lambda = 0.05;
    const loss64 = (uncentred = false): number => {
      let sse = 0, l1 = 0;
      const norms = Array.from({ length: n }, (_, i) => Math.hypot(...Array.from({ length: d }, (_, c) => p.W_dec[i * d + c]!)));
      for (let b = 0; b < B; b++) {
        const z = pre64(p, x, b, p.W_enc, p.b_enc, undefined, uncentred).map((v) => Math.max(v, 0));
        sse += sqErr(p, x, b, z);
        z.forEach((v, i) => { l1 += v * norms[i]!; });
      }
      return sse / denom64(x) + (lambda * l1) / B / Math.sqrt(denom64(x) / B);
    };
    const grads = zeros(p);
    const r = reluForwardBackward(be, p, x, B, lambda, grads);
    expect(r.loss).toBeCloseTo(loss64(), 6);
    checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], loss64);
    const g2 = zeros(p);
    const r2 = reluForwardBackward(be, p, x, B, lambda, g2, undefined, false);
    expect(r2.loss).toBeCloseTo(loss64(true), 6);
    checkFd(p, g2, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], () => loss64(true));
  });

  it('λ is independent of the data\'s scale: data ×c with biases ×c (the same SAE in the new units) gives the same loss, L0 and gradients of the weights', () => {
    const rng = new Rng(8);
    const p = params(rng);
    const x = rng.normals(B * d);
    const c = 37;
    const scaled: SaeParams = { ...p, b_enc: p.b_enc.map((v) => v * c), b_dec: p.b_dec.map((v) => v * c) };
    const g1 = zeros(p), g2 = zeros(p);
    const r1 = reluForwardBackward(be, p, x, B, 0.05, g1);
    const r2 = reluForwardBackward(be, scaled, x.map((v) => v * c), B, 0.05, g2);
    expect(r2.l0).toBe(r1.l0);
    expect(r2.loss).toBeCloseTo(r1.loss, 5);
    expect(r2.l1).toBeCloseTo(r1.l1, 5);
    // ∂L/∂W_dec is scale-free (the code scales by c, the FVU's denominator by c²)
    for (let j = 0; j < g1.W_dec.length; j++) expect(g2.W_dec[j]!).toBeCloseTo(g1.W_dec[j]!, 4);
  });
});

describe('VAE', () => {
  const rng = new Rng(11);
  const p = params(rng, { W_logvar: rng.normals(n * d, 0.3), b_logvar: rng.normals(n, 0.3) });
  const x = rng.normals(B * d);
  const noise = 0.2;

  it('every gradient equals finite differences of the float64 −ELBO at fixed ε', () => {
    const eps = new Rng(1).normals(B * n);
    const loss64 = (): number => {
      const sx2 = (noise * denom64(x)) / (B * d);
      let total = 0;
      for (let b = 0; b < B; b++) {
        const mu = pre64(p, x, b), lv = pre64(p, x, b, p.W_logvar!, p.b_logvar!);
        const z = mu.map((m, i) => m + Math.exp(lv[i]! / 2) * eps[b * n + i]!);
        total += sqErr(p, x, b, z) / (2 * sx2) + gaussianKl(mu, lv, 0, n);
      }
      return total / B;
    };
    const grads = zeros(p);
    const r = vaeForwardBackward(be, p, x, B, noise, new Rng(0), grads, eps);
    expect(r.loss).toBeCloseTo(loss64(), 5);
    checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'W_logvar', 'b_logvar'], loss64, 3e-3);
  });

  it('the analytic KL matches a Monte-Carlo estimate, and the sampled reconstruction term is unbiased', () => {
    const mc = new Rng(21);
    const mu = [0.7, -1.2, 0.1], lv = [-0.5, 0.8, -2];
    // KL(q‖p) = E_q[log q(z) − log p(z)]
    const S = 200_000;
    let est = 0;
    for (let s = 0; s < S; s++) {
      for (let i = 0; i < 3; i++) {
        const e = mc.normal(), z = mu[i]! + Math.exp(lv[i]! / 2) * e;
        est += (-0.5 * e * e - lv[i]! / 2) - (-0.5 * z * z);
      }
    }
    expect(est / S).toBeCloseTo(gaussianKl(mu, lv, 0, 3), 2);
    // E_ε||x − (μ + σε)·W − b||² = ||x − μ·W − b||² + Σ_i σ_i²·||W_i||²
    const sx2 = (noise * denom64(x)) / (B * d);
    let closed = 0;
    for (let b = 0; b < B; b++) {
      const muB = pre64(p, x, b), lvB = pre64(p, x, b, p.W_logvar!, p.b_logvar!);
      closed += sqErr(p, x, b, muB);
      for (let i = 0; i < n; i++) {
        let w2 = 0;
        for (let c = 0; c < d; c++) w2 += p.W_dec[i * d + c]! ** 2;
        closed += Math.exp(lvB[i]!) * w2;
      }
    }
    const R = 4000;
    let sampled = 0;
    for (let s = 0; s < R; s++) sampled += vaeForwardBackward(be, p, x, B, noise, mc, null).recon;
    const want = closed / (2 * sx2 * B);
    expect(Math.abs(sampled / R - want) / want).toBeLessThan(0.01);
  });
});

describe('transcoders (input 5 → output 3, no input centring)', () => {
  const rng = new Rng(17);
  const dIn = 5, dOut = 3;
  const p: SaeParams = {
    W_enc: rng.normals(n * dIn, 0.6), b_enc: rng.normals(n, 0.3), W_dec: rng.normals(n * dOut, 0.5), b_dec: rng.normals(dOut, 0.2),
    W_logvar: rng.normals(n * dIn, 0.3), b_logvar: rng.normals(n, 0.3),
  };
  const x = rng.normals(B * dIn), y = rng.normals(B * dOut);
  const pre = (b: number, W: Float32Array, bias: Float32Array): number[] => pre64(p, x, b, W, bias, dIn);
  const err = (b: number, z: number[]): number => sqErr(p, y, b, z, dOut);
  const denomY = (): number => denom64(y, dOut);

  it('ReLU + L1 transcoder: every gradient equals finite differences', () => {
    const lambda = 0.05;
    const loss64 = (): number => {
      let sse = 0, l1 = 0;
      const norms = Array.from({ length: n }, (_, i) => Math.hypot(...Array.from({ length: dOut }, (_, c) => p.W_dec[i * dOut + c]!)));
      for (let b = 0; b < B; b++) {
        const z = pre(b, p.W_enc, p.b_enc).map((v) => Math.max(v, 0));
        sse += err(b, z);
        z.forEach((v, i) => { l1 += v * norms[i]!; });
      }
      return sse / denomY() + (lambda * l1) / B / Math.sqrt(denomY() / B);
    };
    const grads = zeros(p);
    const r = reluForwardBackward(be, p, x, B, lambda, grads, y);
    expect(r.loss).toBeCloseTo(loss64(), 6);
    checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], loss64);
  });

  it('VAE transcoder: every gradient equals finite differences at fixed ε', () => {
    const noise = 0.3, eps = new Rng(2).normals(B * n);
    const loss64 = (): number => {
      const sx2 = (noise * denomY()) / (B * dOut);
      let total = 0;
      for (let b = 0; b < B; b++) {
        const mu = pre(b, p.W_enc, p.b_enc), lv = pre(b, p.W_logvar!, p.b_logvar!);
        const z = mu.map((m, i) => m + Math.exp(lv[i]! / 2) * eps[b * n + i]!);
        total += err(b, z) / (2 * sx2) + gaussianKl(mu, lv, 0, n);
      }
      return total / B;
    };
    const grads = zeros(p);
    const r = vaeForwardBackward(be, p, x, B, noise, new Rng(0), grads, eps, y);
    expect(r.loss).toBeCloseTo(loss64(), 5);
    checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'W_logvar', 'b_logvar'], loss64, 3e-3);
  });
});
