/** `saekit frontier RUN... [--group-by FIELD]`: MSE–L0 frontiers and matched-L0 comparisons. */
import { Command } from 'commander';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { compareAtMatchedL0, frontiersByGroup, type FrontierPoint } from '../eval/frontier.js';
import { frontierSpec, writeSvg } from '../eval/plots.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { readJsonObject } from '../io/json.js';
import { camel, snake } from '../io/naming.js';
import { readSaeConfig } from '../sae/folder.js';
import { readRunConfig, runConfigPath } from '../train/run-config.js';

/** A run's (L0, FVU) from its eval.json, grouped by a config.json field. */
export function runPoint(run: string, groupBy: string): FrontierPoint {
  const evalPath = join(run, 'eval.json');
  if (!existsSync(evalPath)) throw new Error(`${run}: no eval.json (train it to the end, or run: saekit eval ${run} --data PATH --save)`);
  const ev = readJsonObject(evalPath);
  if (typeof ev.l0 !== 'number' || typeof ev.fvu !== 'number') throw new Error(`${evalPath}: fields "l0" and "fvu" must be numbers`);
  // a training run has config.json; any other SAE folder (imported, stitched) has cfg.json
  const cfgPath = existsSync(runConfigPath(run)) ? runConfigPath(run) : join(run, 'cfg.json');
  const cfg: Record<string, unknown> = existsSync(runConfigPath(run)) ? readRunConfig(run)!.cfg : existsSync(cfgPath) ? { ...readSaeConfig(run) } : {};
  const key = camel(groupBy);
  if (groupBy !== 'none' && !(key in cfg)) throw new Error(`${cfgPath}: no field "${groupBy}" to group by (has: ${Object.keys(cfg).map(snake).join(', ')})`);
  return { label: run, group: groupBy === 'none' ? 'all' : `${groupBy}=${String(cfg[key])}`, l0: ev.l0, fvu: ev.fvu };
}

export function frontierCommand(): Command {
  return new Command('frontier')
    .description('Pareto frontier of (L0, FVU) per group, FVU at matched L0 between groups, and a plot')
    .argument('<runs...>', 'run folders with eval.json')
    .option('--group-by <field>', 'config.json field that names the group (or none)', 'arch')
    .option('--out <dir>', 'write frontier.json, frontier.md and frontier.svg here')
    .action(async (runs: string[], o: { groupBy: string; out?: string }) => {
      const points = runs.map((r) => runPoint(r, o.groupBy));
      const { groups, dominated } = frontiersByGroup(points);
      const lines = ['| run | group | L0 | FVU | status |', '|---|---|---|---|---|'];
      for (const p of [...points].sort((a, b) => a.group.localeCompare(b.group) || a.l0 - b.l0)) {
        const onFrontier = groups.get(p.group)!.includes(p);
        lines.push(`| ${p.label} | ${p.group} | ${p.l0.toFixed(2)} | ${p.fvu.toFixed(5)} | ${dominated.has(p) ? 'dominated' : onFrontier ? 'frontier' : 'dominated in its group'} |`);
      }
      const names = [...groups.keys()];
      const comparisons = [];
      for (let i = 0; i < names.length; i++) {
        for (let j = i + 1; j < names.length; j++) {
          const c = compareAtMatchedL0(names[i]!, groups.get(names[i]!)!, names[j]!, groups.get(names[j]!)!);
          comparisons.push(c);
          lines.push('', c.range
            ? `${c.a} vs ${c.b}: over L0 ${c.range[0].toFixed(1)}–${c.range[1].toFixed(1)}, FVU ratio (geometric mean) ${c.geoMeanRatio.toFixed(3)} → ${c.geoMeanRatio < 1 ? c.a : c.b} is better at matched L0`
            : `${c.a} vs ${c.b}: the frontiers share no L0 range; no matched comparison is possible`);
        }
      }
      console.log(lines.join('\n'));
      if (!o.out) return;
      mkdirSync(o.out, { recursive: true });
      writeFileAtomic(join(o.out, 'frontier.md'), [lines.join('\n') + '\n']);
      writeJsonAtomic(join(o.out, 'frontier.json'), { points, frontiers: Object.fromEntries(groups), comparisons });
      const values = points.map((p) => ({ ...p, onFrontier: groups.get(p.group)!.includes(p) }));
      await writeSvg(join(o.out, 'frontier.svg'), frontierSpec(values));
      console.log(`saekit: wrote ${o.out}/{frontier.md,frontier.json,frontier.svg}`);
    });
}
