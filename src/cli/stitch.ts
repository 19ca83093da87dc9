/** `saekit stitch SMALL LARGE`: one SAE assembled from dictionaries of two sizes. */
import { Command, Option } from 'commander';
import { matchScales } from '../analysis/matching.js';
import { stitch, type StitchMode } from '../analysis/stitch.js';
import { getBackend } from '../compute/backend.js';
import { join } from 'node:path';
import { evaluateSae } from '../eval/metrics.js';
import { summary } from '../eval/report.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { loadSae, saveSae } from '../sae/folder.js';
import { heldRows } from '../app/evaluate.js';
import { parseNumber } from './flags.js';

export function stitchCommand(): Command {
  return new Command('stitch')
    .description('one SAE from a smaller and a larger one: add the larger one\'s discovered latents and/or swap split parents for their children')
    .argument('<small>', 'smaller SAE folder')
    .argument('<large>', 'larger SAE folder')
    .requiredOption('--data <path>', 'held-out activations to compare the result with its inputs')
    .requiredOption('--out <run>', 'folder for the stitched SAE (an ordinary saekit SAE)')
    .addOption(new Option('--mode <mode>', 'what to take from the larger SAE').choices(['add-discovered', 'swap-splits', 'both']).default('both'))
    .option('--novel <cos>', 'discovered below this best decoder cosine', (v) => parseNumber('--novel', v), 0.6)
    .option('--tokens <n>', 'held-out tokens', (v) => parseNumber('--tokens', v), 32768)
    .action(async (smallPath: string, largePath: string, o: { data: string; out: string; mode: StitchMode; novel: number; tokens: number }) => {
      const be = getBackend();
      const small = loadSae(smallPath), large = loadSae(largePath);
      const st = stitch(small, large, matchScales(be, small, large, o.novel), o.mode);
      saveSae(o.out, st);
      const held = await heldRows(be, o.data, o.tokens);
      console.log('| SAE | latents | L0 | FVU |\n|---|---|---|---|');
      for (const [name, sae] of [[smallPath, small], [o.out, st], [largePath, large]] as const) {
        const ev = evaluateSae(be, sae, held.rewind(), held.length);
        // the stitched SAE gets its eval.json, so that saekit frontier takes it like any run
        if (sae === st) writeJsonAtomic(join(o.out, 'eval.json'), { data: held.description, ...summary(ev) });
        console.log(`| ${name} | ${sae.cfg.n} | ${ev.l0.toFixed(2)} | ${ev.fvu.toFixed(5)} |`);
      }
    });
}
