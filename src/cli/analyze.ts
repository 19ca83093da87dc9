/** `saekit analyze ...`: research questions asked of a trained dictionary. */
import { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { opposingDirections } from '../analysis/opposing.js';
import { getBackend } from '../compute/backend.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { writeSvg } from '../eval/plots.js';
import { loadSae } from '../sae/common.js';
import { parseNumber } from './flags.js';

function opposingCommand(): Command {
  return new Command('opposing')
    .description('each latent\'s most negative decoder cosine to any other latent: counts, pairs, histogram')
    .argument('<sae>', 'SAE or run folder')
    .option('--threshold <t...>', 'cosine thresholds to count below', ['-0.9', '-0.7'])
    .option('--encoder', 'search the encoder rows instead of the decoder rows')
    .option('--block <rows>', 'rows per Gram block', (v) => parseNumber('--block', v), 4096)
    .option('--out <dir>', 'write opposing.json, pairs.csv and opposing.svg here')
    .action(async (path: string, o: { threshold: string[]; encoder?: boolean; block: number; out?: string }) => {
      const thresholds = o.threshold.map((t) => parseNumber('--threshold', t));
      for (const t of thresholds) if (t < -1 || t > 1) throw new Error(`--threshold ${t}: a cosine threshold must be in [-1, 1]`);
      const sae = loadSae(path);
      const { n, d } = sae.cfg;
      const rows = o.encoder ? sae.params.W_enc : sae.params.W_dec;
      const t0 = performance.now();
      const res = opposingDirections(getBackend(), rows, n, d, thresholds, o.block);
      const sec = (performance.now() - t0) / 1000;
      console.log(`${o.encoder ? 'encoder' : 'decoder'} rows of ${path}: n=${n}, d=${d} (${sec.toFixed(2)} s)`);
      for (const c of res.counts) console.log(`  latents with a partner below ${c.threshold}: ${c.latents} (${((100 * c.latents) / n).toFixed(2)}%)`);
      for (const p of res.pairs.slice(0, 10)) console.log(`  ${p.i} ~ ${p.j}  cos ${p.cos.toFixed(4)}`);
      if (res.pairs.length > 10) console.log(`  … ${res.pairs.length - 10} more pairs`);
      if (!o.out) return;
      mkdirSync(o.out, { recursive: true });
      writeJsonAtomic(join(o.out, 'opposing.json'), { sae: path, rows: o.encoder ? 'encoder' : 'decoder', n, d, counts: res.counts, pairs: res.pairs.length });
      writeFileAtomic(join(o.out, 'pairs.csv'), ['i,j,cos\n', ...res.pairs.map((p) => `${p.i},${p.j},${p.cos}\n`)]);
      await writeSvg(join(o.out, 'opposing.svg'), {
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: `most negative cosine to another latent (n=${n})`, width: 480, height: 260, background: 'white',
        data: { values: Array.from(res.minCos, (v) => ({ cos: v })) },
        layer: [
          { mark: 'bar', encoding: { x: { field: 'cos', type: 'quantitative', bin: { maxbins: 50 }, title: 'min cosine' }, y: { aggregate: 'count', type: 'quantitative', scale: { type: 'symlog' }, title: 'latents (symlog)' } } },
          { data: { values: thresholds.map((t) => ({ t })) }, mark: { type: 'rule', color: '#d62728', strokeDash: [4, 3] }, encoding: { x: { field: 't', type: 'quantitative' } } },
        ],
      });
      console.log(`saekit: wrote ${o.out}/{opposing.json,pairs.csv,opposing.svg}`);
    });
}

export function analyzeCommand(): Command {
  return new Command('analyze').description('analyses of trained dictionaries').addCommand(opposingCommand());
}
