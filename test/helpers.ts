import { expect } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { nativeBackend, type Backend } from '../src/compute/backend.js';
import type { SaeParams } from '../src/sae/common.js';

/** Asserts |a - e| <= atol + rtol·|e| elementwise; on failure names the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6, label = 'value' }: { rtol?: number; atol?: number; label?: string } = {}): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    if (a === e) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(`${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
      `(rtol ${rtol}, atol ${atol}; ${Number.isNaN(worstExcess) ? 'NaN' : 'over by ' + worstExcess.toExponential(3)})`);
  }
}

/** The native backend, or null; when SAEKIT_REQUIRE_NATIVE=1 (CI) a missing addon fails. */
export function nativeOrSkip(): Backend | null {
  const got = nativeBackend();
  if ('backend' in got) return got.backend;
  if (process.env.SAEKIT_REQUIRE_NATIVE === '1') throw new Error(`SAEKIT_REQUIRE_NATIVE=1 but ${got.reason}`);
  console.warn(`skipping native-kernel tests: ${got.reason} (run npm run build:native)`);
  return null;
}

/** ../shared/<rel> beside the project when it exists (real models, corpora, tokenizers); else
 *  null, after saying which tests skip and why (a user's fresh clone has no ../shared). */
export function sharedPath(rel: string): string | null {
  const p = join(import.meta.dirname, '..', '..', 'shared', rel);
  if (existsSync(p)) return p;
  console.warn(`skipping tests that need ${p}: not found (these real files live beside the project in ../shared, never in it)`);
  return null;
}

/** Central differences of loss over every element of the named tensors, against grads. */
export function checkFd(p: SaeParams, grads: SaeParams, names: readonly (keyof SaeParams)[], loss: () => number, tol = 2e-3): void {
  for (const name of names) {
    const t = p[name]!;
    for (let e = 0; e < t.length; e++) {
      const orig = t[e]!;
      t[e] = Math.fround(orig + 1e-3);
      const up = loss(), hUp = t[e]! - orig;
      t[e] = Math.fround(orig - 1e-3);
      const down = loss(), hDown = orig - t[e]!;
      t[e] = orig;
      const fd = (up - down) / (hUp + hDown), an = grads[name]![e]!;
      if (Math.abs(fd - an) > tol * Math.max(1, Math.abs(fd))) throw new Error(`d loss / d ${name}[${e}]: backward ${an}, finite difference ${fd}`);
    }
  }
}
