/**
 * Loads the C++ addon (native/, built by `npm run build:native` against the system
 * OpenBLAS) if it is there. A missing addon is a normal case, not an error: the caller
 * falls back to the reference kernels.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './kernels.js';

export interface NativeAddon extends Kernels {
  setThreads(n: number): void;
  /** Open MPI (when built with it; src/compute/comm.ts): sums in rank order, in place */
  mpiInit(): { rank: number; size: number };
  mpiSum(a: Float32Array | Float64Array): void;
  /** every rank's src (same length on every rank) in rank order into dst [size × src.length] */
  mpiAllgather<T extends Float32Array | Int32Array>(src: T, dst: T): void;
  mpiBarrier(): void;
  mpiAbort(code: number): void;
  mpiFinalize(): void;
  /** bf16: which bf16 GEMM runs; bf16Fast: whether it is native bf16 (oneDNN on AVX512_BF16/AMX) */
  info(): { blasConfig: string; blasCore: string; threads: number; bf16: string; bf16Fast: boolean; mpi: boolean };
}

/** The package root: the nearest folder above this module holding native/binding.gyp. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'native', 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('saekit: cannot find the package root (native/binding.gyp) above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export type NativeLoad = { ok: true; addon: NativeAddon } | { ok: false; reason: string };

export function loadNative(): NativeLoad {
  const path = join(packageRoot(), 'native', 'build', 'Release', 'saekit_native.node');
  if (!existsSync(path)) return { ok: false, reason: `the addon ${path} has not been built` };
  try {
    const require = createRequire(import.meta.url);
    return { ok: true, addon: require(path) as NativeAddon };
  } catch (err) {
    return { ok: false, reason: `the addon ${path} failed to load: ${(err as Error).message}` };
  }
}
