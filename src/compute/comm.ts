/**
 * The ranks of a training job (docs/design.md §3.4): one process, or the ranks of an MPI job
 * started by mpirun, through the addon's Open MPI calls. Sums run in rank order, so every rank
 * holds the same bits and a rerun with the same number of ranks repeats them.
 */
import { cpus } from 'node:os';
import { nativeBackend } from './backend.js';

export interface Comm {
  readonly rank: number;
  readonly size: number;
  /** in place: the elementwise sum over the ranks, in rank order */
  sum(a: Float32Array | Float64Array): void;
  /** every rank's `part` (the same length on every rank), in rank order: [size × part.length] */
  gather<T extends Float32Array | Int32Array>(part: T): T;
  barrier(): void;
  /** ends every rank of the job (after a rank's own error, so that none waits in a sum) */
  abort(code: number): void;
}

/** Rank r's part [lo, hi) of `count` items (latents, a batch's rows) over `size` ranks:
 *  contiguous, in rank order, sizes differing by at most one. */
export function rankRange(count: number, rank: number, size: number): { lo: number; hi: number } {
  return { lo: Math.floor((rank * count) / size), hi: Math.floor(((rank + 1) * count) / size) };
}

/** One process: sums are the identity. */
export const SINGLE: Comm = { rank: 0, size: 1, sum() {}, gather: (part) => part.slice() as typeof part, barrier() {}, abort(code) { process.exit(code); } };

/** The MPI job this process is a rank of (MPI is initialized on the first call). Each rank runs
 *  its kernels on its share of the machine's cores (cores / ranks on this node). */
export function mpiComm(): Comm {
  const native = nativeBackend();
  if (!('addon' in native)) throw new Error(`--parallel needs the native addon (${native.reason})`);
  const addon = native.addon;
  if (!addon.info().mpi) throw new Error('--parallel: the native addon was built without Open MPI (apt-get install libopenmpi-dev openmpi-bin, then npm run build:native)');
  if (process.env.OMPI_COMM_WORLD_SIZE === undefined) throw new Error('--parallel: not started by mpirun (run: mpirun -np P saekit train ... --parallel data|latents)');
  const { rank, size } = addon.mpiInit();
  const local = Number(process.env.OMPI_COMM_WORLD_LOCAL_SIZE ?? size);
  addon.setThreads(Math.max(1, Math.floor(cpus().length / Math.max(1, local))));
  process.on('exit', () => addon.mpiFinalize());
  return {
    rank, size,
    sum: (a) => addon.mpiSum(a),
    gather: (part) => {
      const all = new (part.constructor as new (n: number) => typeof part)(part.length * size);
      addon.mpiAllgather(part, all);
      return all;
    },
    barrier: () => addon.mpiBarrier(),
    abort: (code) => addon.mpiAbort(code),
  };
}

/** Runs a rank's part of a collective write and tells every rank whether every rank's part
 *  succeeded: a rank's own error is rethrown there, the others throw naming the rank(s) that
 *  failed (so no rank goes on believing the write complete). */
export function together(comm: Comm, what: string, part: () => void): void {
  let own: unknown = null;
  try {
    part();
  } catch (err) {
    own = err;
  }
  const failed = new Float64Array(comm.size);
  failed[comm.rank] = own ? 1 : 0;
  comm.sum(failed);
  if (own) throw own;
  const ranks = [...failed.keys()].filter((r) => failed[r]! > 0);
  if (ranks.length) throw new Error(`${what}: rank ${ranks.join(', ')} of ${comm.size} failed (see its message)`);
}
