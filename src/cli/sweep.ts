/** `saekit sweep CONFIG`: run a grid of trainings one after another, resumably, with a summary. */
import { Command } from 'commander';
import { join } from 'node:path';
import { readSweepConfig, runSweep, sweepTable } from '../app/sweep.js';
import { getBackend } from '../compute/backend.js';
import { mpiComm } from '../compute/comm.js';
import { withStopSignal } from './signals.js';

export function sweepCommand(): Command {
  return new Command('sweep')
    .description('train a grid of SAEs (JSON config: out, base, grid, evalTokens); finished runs are not redone; under mpirun -np P the ranks share the grid')
    .argument('<config>', 'sweep config JSON file')
    .action(async (path: string) => {
      // under mpirun -np P (P > 1) the ranks share the grid, one run per rank at a time
      const comm = Number(process.env.OMPI_COMM_WORLD_SIZE ?? 1) > 1 ? mpiComm() : undefined;
      const rows = await withStopSignal((signal) => runSweep(getBackend(), path, { signal, log: (l) => console.log(l), ...(comm ? { comm } : {}) }));
      if (comm && comm.rank !== 0 && rows) return;
      if (!rows) {
        process.stderr.write('saekit: stopped: checkpoint written; run the same command to continue\n');
        process.exitCode = 130;
        return;
      }
      const out = readSweepConfig(path).out;
      console.log(sweepTable(rows));
      console.log(`saekit: wrote ${join(out, 'summary.md')}; compare runs with: saekit frontier ${out}/*`);
    });
}
