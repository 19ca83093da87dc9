// Data-parallel training under Open MPI on one machine (loopback): two ranks against one
// process at the same global batch, two ranks against themselves (bit for bit), and a rank
// killed with kill -9 mid-run, then --resume. Skips, saying so, where mpirun cannot run or the
// addon was built without Open MPI.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend, nativeBackend } from '../src/compute/backend.js';
import { ShardWriter } from '../src/data/shards.js';
import { openData, parseDataSpec } from '../src/data/spec.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { loadSae } from '../src/sae/folder.js';
import { expectClose } from './helpers.js';

const root = join(import.meta.dirname, '..');
const cli = ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts')];
const MPIRUN = ['--oversubscribe', '--allow-run-as-root', '-np', '2'];
const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-mpi-'));

function mpiMissing(): string | null {
  const native = nativeBackend();
  if (!('addon' in native)) return `the native addon is not built (${native.reason})`;
  if (!native.addon.info().mpi) return 'the native addon was built without Open MPI (libopenmpi-dev)';
  const v = spawnSync('mpirun', ['--allow-run-as-root', '--version'], { encoding: 'utf8' });
  if (v.status !== 0) return `mpirun cannot run here (${v.error?.message ?? v.stderr.trim()})`;
  return null;
}
const missing = mpiMissing();
if (missing) console.warn(`skipping the MPI tests: ${missing} (install openmpi-bin libopenmpi-dev and rebuild)`);

const args = ['train', '--data', 'synthetic:d=32,features=128,active=4,seed=1', '--latents', '256', '--k', '4', '--batch', '512', '--eval-tokens', '2048'];
const single = (extra: string[]) => spawnSync(process.execPath, [...cli, ...args, ...extra], { cwd: root, encoding: 'utf8' });
const ranks = (extra: string[], mode = 'data') => spawnSync('mpirun', [...MPIRUN, process.execPath, ...cli, ...args, ...extra, '--parallel', mode], { cwd: root, encoding: 'utf8' });
const saekit = (extra: string[]) => spawnSync(process.execPath, [...cli, ...extra], { cwd: root, encoding: 'utf8' });
const weights = (dir: string) => loadSae(dir).params;
/** The pids whose command line names `dir` (the ranks and mpirun of a job writing it). */
const jobProcesses = (dir: string): number[] => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((p) => {
  try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir); } catch { return false; }
});

describe.skipIf(missing !== null)('--parallel data under mpirun', () => {
  it('two ranks train to the weights of one process at the same global batch, and repeat themselves bit for bit', () => {
    const one = tmp(), twoA = tmp(), twoB = tmp();
    const budget = ['--tokens', '51200'];
    const r1 = single([...budget, '--out', one]);
    expect(r1.status, r1.stderr).toBe(0);
    for (const dir of [twoA, twoB]) {
      const r = ranks([...budget, '--out', dir]);
      expect(r.status, r.stderr + r.stdout).toBe(0);
      // rank 0 alone prints the report
      expect(r.stdout.match(/Held-out evaluation/g) ?? []).toHaveLength(1);
    }
    const [w1, wA, wB] = [weights(one), weights(twoA), weights(twoB)];
    for (const name of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) {
      expect(Buffer.from(wA[name]!.buffer).equals(Buffer.from(wB[name]!.buffer)), `${name}: two runs of two ranks differ`).toBe(true);
      // 100 steps from gradients summed in another order: float32 rounding only (measured: at
      // most 2e-7 on weights of size 0.1–0.7)
      expectClose(wA[name]!, w1[name]!, { rtol: 1e-5, atol: 1e-5, label: `${name}, two ranks vs one process` });
    }
    const cfg = JSON.parse(readFileSync(join(twoA, 'config.json'), 'utf8'));
    expect(cfg.resolved.ranks).toBe(2);
    // the metrics are the global batch's: the same FVU as one process, to float32 sums
    const last = (dir: string) => JSON.parse(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').pop()!);
    expect(last(twoA).fvu).toBeCloseTo(last(one).fvu, 3);
    expect(last(twoA).tokens).toBe(51200);
  }, 300_000);

  it('on shards each rank reads only its rows: equal to one process without a shuffle; with one, each rank keeps its own buffer and position in the checkpoint', async () => {
    const data = tmp();
    const src = await openData(parseDataSpec('synthetic:d=32,features=128,active=4,seed=2'), getBackend());
    const w = new ShardWriter(data, { d: 32, shardTokens: 3000 });
    const rows = new Float32Array(20480 * 32);
    src.read(rows, 20480);
    w.write(rows, 20480);
    w.close();
    const base = ['train', '--data', data, '--latents', '128', '--k', '4', '--batch', '512', '--tokens', '16384', '--eval-tokens', '2048'];
    const one = tmp(), two = tmp(), shuffled = tmp();
    expect(saekit([...base, '--shuffle', 'none', '--out', one]).status).toBe(0);
    const job = (extra: string[]) => spawnSync('mpirun', [...MPIRUN, process.execPath, ...cli, ...base, ...extra, '--parallel', 'data'], { cwd: root, encoding: 'utf8' });
    const r2 = job(['--shuffle', 'none', '--out', two]);
    expect(r2.status, r2.stderr).toBe(0);
    for (const name of ['W_enc', 'W_dec', 'b_dec'] as const) expectClose(weights(two)[name]!, weights(one)[name]!, { rtol: 1e-5, atol: 1e-5, label: `${name} on shards, two ranks vs one process` });
    const r3 = job(['--shuffle', '4096', '--out', shuffled]);
    expect(r3.status, r3.stderr).toBe(0);
    const ck = join(shuffled, 'checkpoints', 'step-32');
    const position = (rank: number) => {
      const f = SafetensorsFile.open(join(ck, `state-${rank}-of-2.safetensors`));
      try { return { source: JSON.parse(f.metadata.source!), params: f.tensors.has('W_enc') }; } finally { f.close(); }
    };
    const [p0, p1] = [position(0), position(1)];
    expect(p0.params).toBe(true);
    expect(p1.params).toBe(false);
    expect(p0.source.kind).toBe('shuffle');
    expect(p0.source.inner.kind).toBe('rank-slice');
    expect([p0.source.inner.lo, p0.source.inner.hi, p1.source.inner.lo, p1.source.inner.hi]).toEqual([0, 256, 256, 512]);
    expect(p0.source.rng).not.toEqual(p1.source.rng);
  }, 300_000);

  it.each([['data', '2M'], ['latents', '1M']])('--parallel %s: a rank killed with kill -9 stops the job; --resume with two ranks ends where an uninterrupted run does', async (mode, tokens) => {
    const whole = tmp(), killed = tmp();
    const budget = ['--tokens', tokens, '--checkpoint-every', '100k'];
    const ref = ranks([...budget, '--out', whole], mode);
    expect(ref.status, ref.stderr).toBe(0);
    const job = spawn('mpirun', [...MPIRUN, process.execPath, ...cli, ...args, ...budget, '--out', killed, '--parallel', mode], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    job.stdout.on('data', (b) => { out += String(b); });
    job.stderr.on('data', (b) => { out += String(b); });
    const exited = new Promise<number | null>((r) => job.once('exit', (code) => r(code)));
    const ckdir = join(killed, 'checkpoints');
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline && !(existsSync(ckdir) && readdirSync(ckdir).filter((d) => /^step-\d+$/.test(d)).length >= 2)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // rank 1: the process of this job whose environment says so
    const rank1 = jobProcesses(killed).find((p) => {
      try { return /(^|\0)OMPI_COMM_WORLD_RANK=1(\0|$)/.test(readFileSync(`/proc/${p}/environ`, 'utf8')); } catch { return false; }
    });
    expect(rank1, 'no rank-1 process of the job').toBeDefined();
    process.kill(rank1!, 'SIGKILL');
    const code = await exited;
    expect(code).not.toBe(0);
    // mpirun may return while rank 0 is still being torn down (it holds the folder's lock until then)
    const alive = () => jobProcesses(killed).length > 0;
    for (const until = Date.now() + 60_000; alive() && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    expect(alive(), 'a rank of the killed job still runs a minute after mpirun returned').toBe(false);
    // mpirun names the rank that died
    expect(out).toMatch(/rank 1|process rank 1|exited on signal 9/i);
    expect(existsSync(join(killed, 'cfg.json')), 'the run finished before it could be killed').toBe(false);
    const wrongP = spawnSync(process.execPath, [...cli, ...args, ...budget, '--out', killed, '--resume'], { cwd: root, encoding: 'utf8' });
    expect(wrongP.status).not.toBe(0);
    expect(wrongP.stderr).toMatch(/trained by 2 rank\(s\); resume it with the same number/);
    const other = mode === 'data' ? 'latents' : 'data';
    const wrongSplit = ranks([...budget, '--out', killed, '--resume'], other);
    expect(wrongSplit.status).not.toBe(0);
    expect(wrongSplit.stderr).toMatch(new RegExp(`trained with --parallel ${mode}; resume it with --parallel ${mode}`));
    const resumed = ranks([...budget, '--out', killed, '--resume'], mode);
    expect(resumed.status, resumed.stderr).toBe(0);
    const files = mode === 'data' ? ['sae.safetensors'] : ['sae-0-of-2.safetensors', 'sae-1-of-2.safetensors'];
    for (const f of files) expect(readFileSync(join(killed, f)).equals(readFileSync(join(whole, f))), f).toBe(true);
  }, 600_000);

  it('mpirun -np 2 saekit sweep: the ranks share the grid, one run each at a time, and rank 0 gathers the table', () => {
    const dir = tmp(), cfgPath = join(dir, 'sweep.json');
    writeFileSync(cfgPath, JSON.stringify({
      out: join(dir, 'sweep'), evalTokens: 2048,
      base: { data: 'synthetic:d=16,features=48,active=4', latents: 96, tokens: 20_000, batch: 1024 },
      grid: { k: [2, 4, 8, 12] },
    }));
    const r = spawnSync('mpirun', [...MPIRUN, process.execPath, ...cli, 'sweep', cfgPath], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // grid points 1 and 3 on rank 0, 2 and 4 on rank 1
    expect(r.stdout).toMatch(/rank 0: \[1\/4\] k=2/);
    expect(r.stdout).toMatch(/rank 1: \[2\/4\] k=4/);
    expect(r.stdout).toMatch(/rank 1: \[4\/4\] k=12/);
    const table = readFileSync(join(dir, 'sweep', 'summary.md'), 'utf8');
    for (const k of [2, 4, 8, 12]) expect(table).toMatch(new RegExp(`\\| k=${k} \\| ${k}\\.00 \\|`));
    expect(r.stdout.match(/\| run \| L0 \|/g) ?? []).toHaveLength(1);
  }, 300_000);

  it('architectures whose loss couples the rows of a batch are refused by name', () => {
    const r = spawnSync('mpirun', [...MPIRUN, process.execPath, ...cli, 'train', '--arch', 'batchtopk', '--data', 'synthetic:d=16,features=32', '--latents', '64', '--tokens', '4096', '--batch', '512', '--out', join(tmp(), 'r'), '--parallel', 'data'], { cwd: root, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--parallel data: the batchtopk architecture couples the rows/);
  }, 120_000);
});

describe.skipIf(missing !== null)('--parallel latents under mpirun', () => {
  /** Each rank's selections from test/helpers/shard-select.ts: over all latents, and split. */
  const selections = (backend: string) => {
    const out = join(tmp(), 'sel');
    const r = spawnSync('mpirun', [...MPIRUN, process.execPath, '--import', import.meta.resolve('tsx'), join(root, 'test/helpers/shard-select.ts'), out],
      { cwd: root, encoding: 'utf8', env: { ...process.env, SAEKIT_BACKEND: backend } });
    expect(r.status, r.stderr).toBe(0);
    type Sel = { idx: number[]; vals: number[]; auxIdx: number[]; auxVals: number[] };
    return [0, 1].map((rank) => JSON.parse(readFileSync(`${out}.rank-${rank}.json`, 'utf8')) as { lo: number; hi: number; whole: Sel; split: Sel });
  };

  it('every rank chooses exactly the single process\'s top k from the ranks\' candidates, ties across the split included', () => {
    // the reference backend computes each pre-activation the same way wherever its latent sits,
    // so the single process and the split see the same values: the selections must be identical
    const ref = selections('reference');
    expect(ref.map((r) => [r.lo, r.hi])).toEqual([[0, 500], [500, 1001]]);
    for (const r of ref) {
      expect(r.split.idx).toEqual(r.whole.idx);
      expect(r.split.vals).toEqual(r.whole.vals);
      // AuxK among 6 dead latents (3 on each side): 6 chosen, then padding
      expect(r.split.auxIdx).toEqual(r.whole.auxIdx);
      expect(r.split.auxVals).toEqual(r.whole.auxVals);
      expect(r.whole.auxIdx.slice(6, 8)).toEqual([-1, -1]);
    }
    // latents 3 and 700 are equal: where both are kept, 3 comes first in every row
    let tied = 0;
    for (let b = 0; b < 257; b++) {
      const row = ref[0]!.whole.idx.slice(b * 24, (b + 1) * 24), i3 = row.indexOf(3), i700 = row.indexOf(700);
      if (i3 >= 0 && i700 >= 0) { tied++; expect(i700).toBe(i3 + 1); }
    }
    expect(tied).toBeGreaterThan(3);
    // the native GEMM rounds a latent's pre-activation by where it sits in the matrix (OpenBLAS's
    // edge kernels), so only near-ties may differ (measured: every index equal)
    const native = selections('native');
    for (const r of native) {
      const same = r.split.idx.filter((i, e) => i === r.whole.idx[e]).length;
      expect(same / r.whole.idx.length).toBeGreaterThan(0.999);
      expectClose(Float32Array.from(r.split.vals), Float32Array.from(r.whole.vals), { rtol: 1e-5, atol: 1e-5, label: 'top-k values, split vs whole' });
    }
  }, 120_000);

  it('two ranks train to the weights of one process, repeat themselves bit for bit, and the shards read back as one SAE for eval and export', () => {
    const one = tmp(), twoA = tmp(), twoB = tmp();
    // AuxK engaged (a short dead window), Multi-TopK and gradient clipping: every sharded path
    const budget = ['--tokens', '51200', '--latents', '512', '--dead-tokens', '1024', '--multi-top-k', '--clip-grad', '0.5'];
    const r1 = single([...budget, '--out', one]);
    expect(r1.status, r1.stderr).toBe(0);
    for (const dir of [twoA, twoB]) {
      const r = ranks([...budget, '--out', dir], 'latents');
      expect(r.status, r.stderr + r.stdout).toBe(0);
      expect(r.stdout.match(/Held-out evaluation/g) ?? []).toHaveLength(1);
    }
    const cfg = JSON.parse(readFileSync(join(twoA, 'cfg.json'), 'utf8'));
    expect(cfg.n).toBe(512);
    expect(cfg.shards).toEqual([{ file: 'sae-0-of-2.safetensors', latents: [0, 256] }, { file: 'sae-1-of-2.safetensors', latents: [256, 512] }]);
    expect(existsSync(join(twoA, 'sae.safetensors'))).toBe(false);
    for (const f of ['sae-0-of-2.safetensors', 'sae-1-of-2.safetensors']) expect(readFileSync(join(twoA, f)).equals(readFileSync(join(twoB, f))), `${f}: two runs differ`).toBe(true);
    expect(readdirSync(join(twoA, 'checkpoints', 'step-100')).sort()).toEqual(['state-0-of-2.safetensors', 'state-1-of-2.safetensors', 'trainer.json']);
    const [w1, w2] = [weights(one), weights(twoA)];
    for (const name of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) {
      // partial reconstructions summed in another order: float32 rounding only (measured: at most 3e-7)
      expectClose(w2[name]!, w1[name]!, { rtol: 1e-5, atol: 1e-5, label: `${name}, latents split over two ranks vs one process` });
    }
    const last = (dir: string) => JSON.parse(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').pop()!);
    expect(last(twoA).dead_fraction).toBe(last(one).dead_fraction);
    expect(last(twoA).dead_fraction).toBeGreaterThan(0.1);
    expect(last(twoA).aux_loss).toBeCloseTo(last(one).aux_loss, 4);
    // one process reads the shards as one SAE: eval and export
    const ev = saekit(['eval', twoA, '--data', 'synthetic:d=32,features=128,active=4,seed=1', '--tokens', '2048']);
    expect(ev.status, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/FVU\s+0\.\d+/);
    const exported = join(tmp(), 'saelens');
    const ex = saekit(['export', twoA, '--format', 'saelens', '--out', exported]);
    expect(ex.status, ex.stderr).toBe(0);
    const back = join(tmp(), 'back');
    expect(saekit(['import', exported, '--out', back]).status).toBe(0);
    expectClose(weights(back).W_dec!, w2.W_dec!, { rtol: 0, atol: 0, label: 'W_dec through SAELens' });
  }, 300_000);

  it('refuses what it cannot split, by name', () => {
    const r = spawnSync('mpirun', [...MPIRUN, process.execPath, ...cli, 'train', '--arch', 'batchtopk', '--data', 'synthetic:d=16,features=32', '--latents', '64', '--tokens', '4096', '--batch', '512', '--out', join(tmp(), 'r'), '--parallel', 'latents'], { cwd: root, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--parallel latents: the batchtopk architecture does not choose each row's code by a top k/);
  }, 120_000);
});
