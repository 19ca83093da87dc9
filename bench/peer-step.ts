/**
 * `npm run bench -- --peer`: saekit's TopK training step against PyTorch running the same step
 * as EleutherAI sparsify's trainer does on a CPU (bench/peer/sparsify_step.py: fused encoder with
 * the sparse backward, embedding-bag decoder, Adam, unit decoder rows; AuxK off on both), at
 * the same shapes, in a child process; tokens/s of each and their ratio. Needs a python3 with
 * torch (Debian's python3-torch); without one it says so and reports nothing. With Debian's
 * libjemalloc2 installed, torch is also timed under jemalloc keeping freed pages, and the
 * faster of the two is the peer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../src/compute/backend.js';
import { packageRoot } from '../src/compute/native.js';
import { bestOf, fmt } from './timing.js';
import { topkStepTimer, type StepShape } from './train-step.js';

/** The shapes of issue 21's comparison: the design's step, and a wider dictionary at half the batch. */
export const PEER_SHAPES: StepShape[] = [{ B: 8192, n: 32768, d: 768, k: 32 }, { B: 4096, n: 131072, d: 768, k: 32 }];

export function pythonWithTorch(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(py, ['-c', 'import torch, numpy'], { stdio: 'ignore' });
      return py;
    } catch { /* next */ }
  }
  return null;
}

const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
interface PeerStep { tokens_per_s: number; torch: string; threads: number; blas_info: string; mapped: string[]; allocator: string }

export function benchPeer(be: Backend, report: (what: string, value: string, note?: string) => void): void {
  const py = pythonWithTorch();
  if (!py) {
    report('PyTorch peer', 'skipped', 'no python3 with torch here (Debian: apt-get install python3-torch)');
    return;
  }
  for (const s of PEER_SHAPES) {
    const { B, n, d, k } = s;
    const shape = `n=${n} B=${B}`;
    // saekit is timed before and after the peer and its best counts, as the peer's best does:
    // on these shared machines a slow spell during one side's turn would otherwise decide
    const f32 = topkStepTimer(be, s, 'f32');
    const bf = be.bf16.fast ? topkStepTimer(be, s, 'bf16') : null;
    const ours = () => ({ f32: bestOf(2, f32.step()), bf16: bf ? bestOf(2, bf.step()) : Infinity });
    const before = ours();
    // torch on a CPU allocates its large tensors afresh every step; with glibc's malloc they are
    // mmap'd and faulted in each time, which costs much in a VM. jemalloc keeping freed pages
    // (where Debian's libjemalloc2 is installed) is the peer's best case: the faster one counts.
    const runs = [{ allocator: 'glibc malloc', env: {} }];
    if (existsSync(JEMALLOC)) runs.push({ allocator: 'jemalloc, pages kept', env: { LD_PRELOAD: JEMALLOC, MALLOC_CONF: 'dirty_decay_ms:-1,muzzy_decay_ms:-1' } });
    let peer: PeerStep | null = null;
    for (const r of runs) {
      const out = execFileSync(py, [join(packageRoot(), 'bench', 'peer', 'sparsify_step.py'), '--d', String(d), '--latents', String(n), '--k', String(k),
        '--batch', String(B), '--reps', '2'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20, env: { ...process.env, ...r.env } });
      const got = { ...JSON.parse(out.trim().split('\n').pop()!) as PeerStep, allocator: r.allocator };
      report(`PyTorch (sparsify's step) ${shape}, ${r.allocator}`, `${fmt(got.tokens_per_s)} tokens/s`,
        `torch ${got.torch}, ${got.threads} threads, BLAS_INFO=${got.blas_info}, maps ${got.mapped.map((p) => p.split('/').pop()).join(' ')}`);
      if (!peer || got.tokens_per_s > peer.tokens_per_s) peer = got;
    }
    const after = ours();
    const f32Sec = Math.min(before.f32, after.f32), bfSec = Math.min(before.bf16, after.bf16);
    const spread = (a: number, b: number) => `before/after the peer ${fmt(B / a)} / ${fmt(B / b)}`;
    report(`saekit f32 / PyTorch tokens/s ${shape}`, fmt(B / f32Sec / peer!.tokens_per_s),
      `saekit ${fmt(B / f32Sec)} tokens/s (${spread(before.f32, after.f32)}); PyTorch with ${peer!.allocator}`);
    if (bf) {
      report(`saekit bf16 / PyTorch tokens/s ${shape}`, fmt(B / bfSec / peer!.tokens_per_s),
        `target >= ${n === 32768 ? '2.5' : '3.5'}; saekit ${fmt(B / bfSec)} tokens/s (${spread(before.bf16, after.bf16)})`);
    }
  }
}
