/** `saekit stitch SMALL LARGE`: one SAE assembled from dictionaries of two sizes. */
import { Command, Option } from 'commander';
import type { StitchMode } from '../analysis/stitch.js';
import { stitchJob } from '../app/analyze.js';
import { getBackend } from '../compute/backend.js';
import { intFlag, realFlag } from './flags.js';

export function stitchCommand(): Command {
  return new Command('stitch')
    .description('one SAE from a smaller and a larger one: add the larger one\'s discovered latents and/or swap split parents for their children')
    .argument('<small>', 'smaller SAE (a folder of any layout saekit reads, or hf:ORG/REPO/PATH)')
    .argument('<large>', 'larger SAE (likewise)')
    .requiredOption('--data <path>', 'held-out activations to compare the result with its inputs')
    .requiredOption('--out <run>', 'folder for the stitched SAE (an ordinary saekit SAE)')
    .addOption(new Option('--mode <mode>', 'what to take from the larger SAE').choices(['add-discovered', 'swap-splits', 'both']).default('both'))
    .option('--novel <cos>', 'discovered below this best decoder cosine', realFlag('--novel', -1, 1), 0.6)
    .option('--tokens <n>', 'held-out tokens', intFlag('--tokens', 1), 32768)
    .action(async (smallPath: string, largePath: string, o: { data: string; out: string; mode: StitchMode; novel: number; tokens: number }) => {
      const rows = await stitchJob(getBackend(), smallPath, largePath, o);
      console.log('| SAE | latents | L0 | FVU |\n|---|---|---|---|');
      for (const r of rows) console.log(`| ${r.name} | ${r.n} | ${r.l0.toFixed(2)} | ${r.fvu.toFixed(5)} |`);
    });
}
