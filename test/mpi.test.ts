// Data-parallel training under Open MPI on one machine (loopback): two ranks against one
// process at the same global batch, two ranks against themselves (bit for bit), and a rank
// killed with kill -9 mid-run, then --resume. Skips, saying so, where mpirun cannot run or the
// addon was built without Open MPI.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeBackend } from '../src/compute/backend.js';
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
const ranks = (extra: string[]) => spawnSync('mpirun', [...MPIRUN, process.execPath, ...cli, ...args, ...extra, '--parallel', 'data'], { cwd: root, encoding: 'utf8' });
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

  it('a rank killed with kill -9 stops the job; --resume with two ranks ends where an uninterrupted run does', async () => {
    const whole = tmp(), killed = tmp();
    const budget = ['--tokens', '2M', '--checkpoint-every', '100k'];
    const ref = ranks([...budget, '--out', whole]);
    expect(ref.status, ref.stderr).toBe(0);
    const job = spawn('mpirun', [...MPIRUN, process.execPath, ...cli, ...args, ...budget, '--out', killed, '--parallel', 'data'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
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
    expect(existsSync(join(killed, 'sae.safetensors')), 'the run finished before it could be killed').toBe(false);
    const wrongP = spawnSync(process.execPath, [...cli, ...args, ...budget, '--out', killed, '--resume'], { cwd: root, encoding: 'utf8' });
    expect(wrongP.status).not.toBe(0);
    expect(wrongP.stderr).toMatch(/trained by 2 rank\(s\); resume it with the same number/);
    const resumed = ranks([...budget, '--out', killed, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(readFileSync(join(killed, 'sae.safetensors')).equals(readFileSync(join(whole, 'sae.safetensors')))).toBe(true);
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
