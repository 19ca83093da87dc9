/** `saekit recipe`: the learning rate, token budget, batch and dead window for a new size. */
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { readFits, recipeFor, type Recipe } from '../train/recipe.js';
import { intFlag } from './flags.js';

export const DEFAULT_FITS = 'runs/experiment-scaling-small/fits.json';

/** What `--fits` names: 'published', a fits.json path, or (not given) the default experiment's when present. */
const fitsSource = (fits: string | undefined): string => fits ?? (existsSync(DEFAULT_FITS) ? DEFAULT_FITS : 'published');

/** The recipe from `fits` (see fitsSource). */
export function recipeFrom(fits: string | undefined, latents: number, k?: number): Recipe {
  const path = fitsSource(fits);
  return recipeFor(latents, { ...(path === 'published' ? {} : { fits: readFits(path) }), ...(k !== undefined ? { k } : {}) });
}

export function recipeCommand(): Command {
  return new Command('recipe')
    .description(`hyperparameters for a new size without a sweep: from the fits of saekit experiment scaling (--fits, default ${DEFAULT_FITS} when present) or the published rules`)
    .requiredOption('--latents <n>', 'dictionary size N', intFlag('--latents', 1))
    .option('--d <n>', 'input width (printed with the recipe; the fits are per N)', intFlag('--d', 1))
    .option('--k <n>', 'active latents: also print the FVU the joint fit predicts', intFlag('--k', 1))
    .option('--fits <file>', 'fits.json of a scaling experiment, or "published"')
    .action((o: { latents: number; d?: number; k?: number; fits?: string }) => {
      const r = recipeFrom(o.fits, o.latents, o.k);
      console.log(`recipe for ${o.latents} latents${o.d ? ` on d=${o.d}` : ''}${o.k ? `, k=${o.k}` : ''} (${r.basis}):`);
      console.log(`  --lr ${r.lr.toExponential(3)}`);
      console.log(r.tokens !== undefined ? `  --tokens ${r.tokens}` : '  --tokens (no fit: choose by the run\'s loss curve)');
      console.log(`  --batch ${r.batch}`);
      console.log(`  --dead-tokens ${r.deadTokens}`);
      if (r.predictedFvu !== undefined) console.log(`  predicted held-out FVU at k=${o.k}: ${r.predictedFvu.toFixed(4)} (on the fitted data)`);
      for (const w of r.warnings) console.log(`  warning: ${w}`);
      console.log(`  train with: saekit train --latents ${o.latents}${o.k ? ` --k ${o.k}` : ''} --recipe ${fitsSource(o.fits)} ...`);
    });
}
