/** `saekit frontier RUN... [--group-by FIELD]`: MSE–L0 frontiers and matched-L0 comparisons. */
import { Command } from 'commander';
import { frontierReport } from '../app/analyze.js';

export function frontierCommand(): Command {
  return new Command('frontier')
    .description('Pareto frontier of (L0, FVU) per group, FVU at matched L0 between groups, and a plot')
    .argument('<runs...>', 'run folders with eval.json')
    .option('--group-by <field>', 'config.json field that names the group (or none)', 'arch')
    .option('--out <dir>', 'write frontier.json, frontier.md and frontier.svg here')
    .action(async (runs: string[], o: { groupBy: string; out?: string }) => {
      console.log((await frontierReport(runs, o)).join('\n'));
      if (o.out) console.log(`saekit: wrote ${o.out}/{frontier.md,frontier.json,frontier.svg}`);
    });
}
