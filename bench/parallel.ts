/**
 * `npm run bench -- --parallel`: training under mpirun on this machine, both splits, and the
 * splits on paper for machines we do not have (docs/design.md §3.4).
 *   - tokens/s of one process and of two ranks (mpirun -np 2, loopback) at the same global
 *     batch, data split and latent split, and the bytes each rank sends per step;
 *   - a table for P = 8 and 64 ranks at n = 16M latents, d = 4096: per-rank memory, bytes per
 *     step, and the bandwidth at which communication stays under 20% of the step, for the data
 *     split and the latent split, with each rank as fast as this machine's bf16 (else f32) GEMM.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/compute/native.js';
import { fmt } from './timing.js';

type Report = (what: string, value: string, note?: string) => void;

/** Bytes a rank sends (and receives) per step in a ring all-reduce of `bytes` over P ranks. */
const ring = (bytes: number, P: number): number => (2 * (P - 1) / P) * bytes;

/** Per step, per rank: data split (gradients of W_enc, W_dec, b_enc, b_dec and the firing
 *  flags summed) and latent split (each row's k candidates gathered from every rank, the
 *  partial reconstructions and b_dec's encoder-side gradient summed). */
export function commBytes(o: { n: number; d: number; B: number; k: number; P: number }): { data: number; latents: number } {
  const { n, d, B, k, P } = o;
  return {
    data: ring(4 * (2 * n * d + n + d) + 4 * n, P),
    latents: ((P - 1) / P) * B * k * P * 8 + ring(4 * B * d, P) + ring(4 * d, P),
  };
}

/** Per-rank memory in bytes: weights, gradients and Adam's two moments of W_enc and W_dec for
 *  the rank's latents, the pre-activations [B, n / P] and the batch. */
export function rankMemory(o: { n: number; d: number; B: number; P: number; split: 'data' | 'latents' }): number {
  const nr = o.split === 'data' ? o.n : o.n / o.P, rows = o.split === 'data' ? o.B / o.P : o.B;
  return 4 * (8 * nr * o.d) + 4 * rows * nr + 4 * o.B * o.d;
}

export function benchParallel(report: Report, gemmFlops: number, precision: string): void {
  // the paper table: a rank runs its encoder GEMM at this machine's speed
  const n = 16 * 2 ** 20, d = 4096, B = 4096, k = 32;
  for (const P of [8, 64]) {
    for (const split of ['data', 'latents'] as const) {
      const mem = rankMemory({ n, d, B, P, split });
      const bytes = commBytes({ n, d, B, k, P })[split];
      // the step's compute: the encoder GEMM over the rank's share (rows or latents), ~80% of a step
      const flops = 2 * B * n * d / P;
      const step = flops / gemmFlops / 0.8;
      report(`paper: n=16M d=4096 B=4096 k=32, P=${P}, ${split} split`, `${fmt(mem / 2 ** 30)} GiB/rank`,
        `${fmt(bytes / 2 ** 20)} MiB sent per rank per step; step ${fmt(step)} s at ${fmt(gemmFlops / 1e9)} GFLOP/s (${precision}); comm < 20% above ${fmt(bytes / (0.2 * step) / 2 ** 20)} MiB/s`);
    }
  }
  // measured: one process against two ranks on this machine
  const v = spawnSync('mpirun', ['--allow-run-as-root', '--version'], { encoding: 'utf8' });
  if (v.status !== 0) {
    report('parallel, 2 ranks', 'skipped', 'mpirun cannot run here (apt-get install openmpi-bin libopenmpi-dev, then npm run build:native)');
    return;
  }
  const cfg = { d: 256, n: 8192, B: 4096, k: 32, tokens: 409_600 };
  const args = ['train', '--data', `synthetic:d=${cfg.d},features=4096,active=16`, '--latents', String(cfg.n), '--k', String(cfg.k),
    '--batch', String(cfg.B), '--tokens', String(cfg.tokens), '--eval-tokens', '4096', '--log-every', '1'];
  const bin = join(packageRoot(), 'bin', 'saekit.js');
  const rate = (dir: string): number => {
    // the trainer's own rate (training steps only), averaged over the second half of the run
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tokens: number; tokens_per_s: number });
    const half = lines.slice(Math.floor(lines.length / 2));
    return half.reduce((s, l) => s + l.tokens_per_s, 0) / half.length;
  };
  const run = (mode: 'one' | 'data' | 'latents'): { rate: number } | { error: string } => {
    const dir = mkdtempSync(join(tmpdir(), `saekit-bench-${mode}-`));
    const env = { ...process.env, CI: 'true' };
    const r = mode === 'one'
      ? spawnSync(process.execPath, [bin, ...args, '--out', dir], { encoding: 'utf8', env })
      : spawnSync('mpirun', ['--oversubscribe', '--allow-run-as-root', '-np', '2', process.execPath, bin, ...args, '--out', dir, '--parallel', mode], { encoding: 'utf8', env });
    return r.status === 0 ? { rate: rate(dir) } : { error: r.stderr.trim().split('\n').pop() ?? '' };
  };
  const one = run('one');
  if ('error' in one) {
    report('parallel, 1 process', 'failed', one.error);
    return;
  }
  for (const mode of ['data', 'latents'] as const) {
    const two = run(mode);
    if ('error' in two) {
      report(`${mode} split, 2 ranks`, 'failed', two.error);
      continue;
    }
    const bytes = commBytes({ ...cfg, P: 2 })[mode];
    report(`${mode} split d=${cfg.d} n=${cfg.n} B=${cfg.B}: 2 ranks / 1 process tokens/s`, fmt(two.rate / one.rate),
      `1 process ${fmt(one.rate)} tokens/s (2 threads), 2 ranks ${fmt(two.rate)} tokens/s (1 thread each); ${fmt(bytes / 2 ** 20)} MiB sent per rank per step, ${fmt(bytes * two.rate / cfg.B / 2 ** 20)} MiB/s`);
  }
}
