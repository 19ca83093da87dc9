/** `saekit experiment NAME [--scale small|medium]`: reproducible studies with report.md and plots. */
import { Argument, Command, Option } from 'commander';
import { getBackend } from '../compute/backend.js';
import { architecturesExperiment } from '../experiments/architectures.js';
import { circlesExperiment } from '../experiments/circles.js';
import { initExperiment } from '../experiments/init.js';
import { progressiveExperiment } from '../experiments/progressive.js';
import { scalesExperiment } from '../experiments/scales.js';
import { scalingExperiment } from '../experiments/scaling.js';
import { shuffleExperiment } from '../experiments/shuffle.js';
import type { Scale } from '../experiments/common.js';

const EXPERIMENTS = { progressive: progressiveExperiment, init: initExperiment, shuffle: shuffleExperiment, scales: scalesExperiment, architectures: architecturesExperiment, circles: circlesExperiment, scaling: scalingExperiment };

export function experimentCommand(): Command {
  return new Command('experiment')
    .description('run a study (progressive: Multi-TopK at several k; init: encoder init; shuffle: shuffle buffers; scales: splitting vs discovery and stitching; architectures: every architecture at matched L0; circles: how SAEs represent circular features; scaling: loss against N and k, lr and token fits for saekit recipe); resumable')
    .addArgument(new Argument('<name>', 'experiment').choices(Object.keys(EXPERIMENTS)))
    .addOption(new Option('--scale <scale>', 'problem size (tiny is a smoke test)').choices(['tiny', 'small', 'medium']).default('small'))
    .option('--out <dir>', 'folder for report.md, plots and runs (default runs/experiment-NAME-SCALE)')
    .option('--real <dir>', 'architectures: also compare on this shard folder of real activations (from saekit extract), as a third regime')
    .action(async (name: keyof typeof EXPERIMENTS, o: { scale: Scale; out?: string; real?: string }) => {
      const out = o.out ?? `runs/experiment-${name}-${o.scale}`;
      if (o.real && name !== 'architectures') throw new Error(`--real applies to the architectures experiment, not ${name}`);
      const report = name === 'architectures' ? await architecturesExperiment(getBackend(), o.scale, out, { real: o.real }) : await EXPERIMENTS[name](getBackend(), o.scale, out);
      console.log(report);
      console.log(`saekit: wrote ${out}/report.md`);
    });
}
