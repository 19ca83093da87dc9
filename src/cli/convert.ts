/** `saekit export` and `saekit import`: SAELens and sparsify folders to and from saekit. */
import { Command, Option } from 'commander';
import { existsSync } from 'node:fs';
import { exportSaeLens, importSaeLens, isSaeLensFolder } from '../formats/saelens.js';
import { exportSparsify, importSparsify, isSparsifyFolder } from '../formats/sparsify.js';
import { refuseExisting } from '../io/atomic.js';
import { loadSae, saveSae } from '../sae/folder.js';

export function exportCommand(): Command {
  return new Command('export')
    .description('write a trained SAE as a SAELens or sparsify folder')
    .argument('<run>', 'run folder (or any saekit SAE folder)')
    .addOption(new Option('--format <format>', 'target format').choices(['saelens', 'sparsify']).makeOptionMandatory())
    .requiredOption('--out <dir>', 'folder to write')
    .option('--hook-name <name>', 'SAELens metadata: the hook point, e.g. blocks.8.hook_resid_post')
    .option('--model-name <name>', 'SAELens metadata: the model')
    .option('--force', 'replace --out if it exists')
    .action((run: string, o: { format: 'saelens' | 'sparsify'; out: string; hookName?: string; modelName?: string; force?: boolean }) => {
      refuseExisting(o.out, '--out', Boolean(o.force));
      const sae = loadSae(run);
      if (o.format === 'saelens') exportSaeLens(sae, o.out, { hookName: o.hookName, modelName: o.modelName });
      else exportSparsify(sae, o.out);
      console.log(`saekit: wrote ${o.format} folder ${o.out}`);
    });
}

export function importCommand(): Command {
  return new Command('import')
    .description('read a SAELens or sparsify SAE folder into a saekit SAE folder')
    .argument('<dir>', 'SAELens folder (cfg.json + sae_weights.safetensors) or sparsify folder (cfg.json + sae.safetensors)')
    .requiredOption('--out <run>', 'saekit folder to write')
    .option('--force', 'replace --out if it exists')
    .action((dir: string, o: { out: string; force?: boolean }) => {
      if (!existsSync(dir)) throw new Error(`${dir}: no such folder`);
      refuseExisting(o.out, '--out', Boolean(o.force));
      const sae = isSaeLensFolder(dir) ? importSaeLens(dir) : isSparsifyFolder(dir) ? importSparsify(dir) : null;
      if (!sae) throw new Error(`${dir}: neither a SAELens folder (cfg.json + sae_weights.safetensors) nor a sparsify folder (cfg.json with d_in + sae.safetensors)`);
      saveSae(o.out, sae);
      console.log(`saekit: imported ${sae.cfg.arch} SAE d=${sae.cfg.d} n=${sae.cfg.n} k=${sae.cfg.k} into ${o.out}`);
    });
}
