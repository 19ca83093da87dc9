/**
 * AuxK (Gao et al. 2024 §A.2; normalized as OpenAI's train.py, docs/design.md §4.1): TopK SAEs
 * trained with and without the auxiliary loss at several learning rates, dead windows and
 * k_aux, on the same data, seed and tokens. Reports the trainer's dead fraction (no firing in
 * the last dead-tokens tokens) at the end and at its peak, the held-out FVU and the fraction of
 * latents never fired on the held-out rows; writes dead.svg and report.md into --out.
 *
 *   npx tsx examples/auxk.ts --data DIR_OR_SPEC [--latents 8192] [--k 8] [--tokens 1M]
 *       [--lr-scales 1,2,4] [--dead-tokens 100000[,400000…]] [--k-aux off,default[,8…]]
 *       [--out runs/auxk]
 *
 * examples/auxk.sh runs it on stories260K's layer-2 residual stream (EXPERIMENTS.md, "AuxK").
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { trainAndReport } from '../src/app/train.js';
import { getBackend } from '../src/compute/backend.js';
import { lineSpec, writeSvg } from '../src/eval/plots.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { defaultLr } from '../src/train/config.js';

const arg = (name: string, dflt?: string): string => {
  const i = process.argv.indexOf(name);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  if (dflt === undefined) throw new Error(`examples/auxk.ts: ${name} is required`);
  return dflt;
};
const data = arg('--data');
const latents = Number(arg('--latents', '8192')), k = Number(arg('--k', '8'));
const tokens = Number(arg('--tokens', '1000000'));
const windows = arg('--dead-tokens', '100000').split(',').map(Number);
const scales = arg('--lr-scales', '1,2,4').split(',').map(Number);
/** k_aux settings: off (0), default (d/2), or a number */
const kAuxes = arg('--k-aux', 'off,default').split(',').map((v) => (v === 'off' ? 0 : v === 'default' ? undefined : Number(v)));
const auxLabel = (kAux: number | undefined): string => (kAux === 0 ? 'off' : kAux === undefined ? 'on (k_aux = d/2)' : `on (k_aux = ${kAux})`);
const out = arg('--out', 'runs/auxk');
const be = getBackend();

const curves: { run: string; tokens: number; dead: number }[] = [];
const table = ['| lr | dead window (tokens) | AuxK | held-out FVU | L0 | dead at end (trainer) | peak dead during training | never fired on held-out rows |', '|---|---|---|---|---|---|---|---|'];
for (const scale of scales) {
  const lr = scale * defaultLr(latents);
  for (const deadTokens of windows) {
    for (const kAux of kAuxes) {
      // the first window keeps the original run names, so earlier runs are reused
      const name = `lr${scale}x-${kAux === 0 ? 'off' : kAux === undefined ? 'auxk' : `kaux${kAux}`}${deadTokens === 100_000 ? '' : `-w${deadTokens}`}`;
      const dir = join(out, name);
      const { summary } = await trainAndReport(be, {
        settings: { data, latents, k, tokens, lr, deadTokens, logEvery: 5, ...(kAux === undefined ? {} : { kAux }) }, out: dir, resume: true, evalTokens: 65536,
      });
      const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { tokens: number; dead_fraction: number });
      for (const l of lines) curves.push({ run: `lr ${scale}×, window ${deadTokens}, AuxK ${auxLabel(kAux)}`, tokens: l.tokens, dead: l.dead_fraction });
      const peak = Math.max(...lines.map((l) => l.dead_fraction));
      const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;
      table.push(`| ${scale}× (${lr.toExponential(2)}) | ${deadTokens} | ${auxLabel(kAux)} | ${summary!.fvu.toFixed(4)} | ${summary!.l0.toFixed(1)} | ${pct(lines.at(-1)!.dead_fraction)} | ${pct(peak)} | ${pct(summary!.never_fired_fraction)} |`);
      console.log(table.at(-1));
    }
  }
}
await writeSvg(join(out, 'dead.svg'), lineSpec(curves, { x: 'tokens', y: 'dead', series: 'run', title: 'dead fraction (no firing in the last dead-window tokens)', xTitle: 'training tokens', yTitle: 'dead fraction' }));
const report = [`# AuxK on and off`, '', `${cpus()[0]?.model ?? '?'}; data ${data}, ${latents} latents, k=${k}, ${tokens} tokens asked; AuxK with α = 1/32.`, '', ...table, '', '![dead fraction](dead.svg)', ''].join('\n');
writeFileAtomic(join(out, 'report.md'), [report]);
console.log(report);
