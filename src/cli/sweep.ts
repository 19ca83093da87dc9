/** `saekit sweep CONFIG`: run a grid of trainings one after another, resumably, with a summary. */
import { Command } from 'commander';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { getBackend } from '../compute/backend.js';
import { formatSummary, writeReport, type EvalSummary } from '../eval/report.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { readJsonFile, readJsonObject } from '../io/json.js';
import { parseTrainConfig } from '../train/config.js';
import { expandGrid, SweepConfig } from '../train/sweep.js';
import { train } from '../train/trainer.js';
import { heldOut } from './train.js';

export function sweepCommand(): Command {
  return new Command('sweep')
    .description('train a grid of SAEs (JSON config: out, base, grid, evalTokens); finished runs are not redone')
    .argument('<config>', 'sweep config JSON file')
    .action(async (path: string) => {
      const parsed = SweepConfig.safeParse(readJsonFile(path));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new Error(`${path}: ${issue.path.length ? `field "${issue.path.join('.')}"` : 'config'}: ${issue.message}`);
      }
      const cfg = parsed.data;
      const runs = expandGrid(cfg, path);
      // every run's settings are validated before the first one starts
      const configs = runs.map((r) => parseTrainConfig(r.settings, `${path} (run ${r.name})`));
      const be = getBackend();
      mkdirSync(cfg.out, { recursive: true });
      writeJsonAtomic(join(cfg.out, 'sweep.json'), cfg);
      const rows: { name: string; summary: EvalSummary }[] = [];
      for (const [i, run] of runs.entries()) {
        const dir = join(cfg.out, run.name);
        if (existsSync(join(dir, 'eval.json'))) {
          console.log(`[${i + 1}/${runs.length}] ${run.name}: done already`);
          rows.push({ name: run.name, summary: readJsonObject(join(dir, 'eval.json')) as unknown as EvalSummary });
          continue;
        }
        console.log(`[${i + 1}/${runs.length}] ${run.name}`);
        const res = await train(be, configs[i]!, { out: dir, resume: true, progress: true });
        if (!res.finished) {
          process.exitCode = 130;
          return;
        }
        const summary = await writeReport(be, dir, res.sae, await heldOut(be, configs[i]!.data, cfg.evalTokens, cfg.evalData), cfg.evalTokens);
        console.log(formatSummary(summary));
        rows.push({ name: run.name, summary });
      }
      const table = ['| run | L0 | FVU | normalized MSE | dead | MMCS |', '|---|---|---|---|---|---|',
        ...rows.map(({ name, summary: s }) => `| ${name} | ${s.l0.toFixed(2)} | ${s.fvu.toFixed(5)} | ${s.normalized_mse.toFixed(5)} | ${(100 * s.dead_fraction).toFixed(2)}% | ${s.mmcs?.toFixed(4) ?? '–'} |`)];
      writeFileAtomic(join(cfg.out, 'summary.md'), [table.join('\n') + '\n']);
      console.log(table.join('\n'));
      console.log(`saekit: wrote ${join(cfg.out, 'summary.md')}; compare runs with: saekit frontier ${cfg.out}/*`);
    });
}
