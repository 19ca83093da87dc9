/** `saekit eval RUN --data PATH [--json]`: evaluate a trained SAE on activations. */
import { Command } from 'commander';
import { getBackend } from '../compute/backend.js';
import { openSource } from '../data/open.js';
import { parseSyntheticSpec, SyntheticSource } from '../data/synthetic.js';
import { densityHistogram, evaluateSae } from '../eval/metrics.js';
import { formatSummary, summary } from '../eval/report.js';
import { loadSae } from '../sae/common.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { parseNumber } from './flags.js';

export function evalCommand(): Command {
  return new Command('eval')
    .description('evaluate a trained SAE: FVU, normalized MSE, L0, dead fraction, density histogram, MMCS on synthetic data')
    .argument('<run>', 'run folder (or any saekit SAE folder)')
    .requiredOption('--data <path>', 'activations: a shard folder, a .safetensors file, or synthetic[:options]')
    .option('--tokens <n>', 'tokens to evaluate', (v) => parseNumber('--tokens', v), 65536)
    .option('--batch <n>', 'rows per forward pass', (v) => parseNumber('--batch', v), 4096)
    .option('--json', 'print one JSON object')
    .option('--save', 'also write the result to RUN/eval.json (what saekit frontier reads)')
    .action((run: string, o: { data: string; tokens: number; batch: number; json?: boolean; save?: boolean }) => {
      const be = getBackend();
      const sae = loadSae(run);
      // synthetic data is evaluated on its held-out stream unless a stream is named
      const source = o.data.startsWith('synthetic') && !/stream=/.test(o.data)
        ? new SyntheticSource({ ...parseSyntheticSpec(o.data), stream: 1 }, be)
        : openSource(o.data, be);
      const res = evaluateSae(be, sae, source, o.tokens, o.batch);
      const hist = densityHistogram(res.density);
      if (o.save) writeJsonAtomic(join(run, 'eval.json'), { data: source.description, ...summary(res) });
      if (o.json) {
        console.log(JSON.stringify({ run, data: source.description, ...summary(res), density_histogram: hist }));
        return;
      }
      console.log(`SAE ${run}: ${sae.cfg.arch}, d=${sae.cfg.d}, n=${sae.cfg.n}, k=${sae.cfg.k}; data ${source.description}`);
      console.log(formatSummary(summary(res)));
      const max = Math.max(...hist.counts, 1);
      console.log('  firing density (log10 frequency: latents)');
      hist.counts.forEach((c, i) => {
        if (c > 0) console.log(`  ${hist.edges[i]!.toFixed(2).padStart(6)} ${String(c).padStart(7)} ${'#'.repeat(Math.ceil((40 * c) / max))}`);
      });
      console.log(`  never fired: ${hist.dead}`);
    });
}
