/** `saekit export` and `saekit import`: SAELens, sparsify and Gemma Scope folders, local or on the hub, to and from saekit. */
import { Command, Option } from 'commander';
import { openSae, saeLensMeta } from '../app/hub.js';
import { exportCircuitTracer } from '../formats/circuit-tracer.js';
import { exportSaeLens } from '../formats/saelens.js';
import { exportSparsify } from '../formats/sparsify.js';
import { refuseExisting } from '../io/atomic.js';
import { loadSae, saveSae } from '../sae/folder.js';
import { intFlag, realFlag } from './flags.js';

export function exportCommand(): Command {
  return new Command('export')
    .description('write a trained SAE as a SAELens or sparsify folder, or a cross-layer transcoder in circuit-tracer\'s layout')
    .argument('<run>', 'run folder (or any saekit SAE folder)')
    .addOption(new Option('--format <format>', 'target format').choices(['saelens', 'sparsify', 'circuit-tracer']).makeOptionMandatory())
    .requiredOption('--out <dir>', 'folder to write')
    .option('--hook-name <name>', 'SAELens metadata: the hook point (default: from the SAE\'s data, e.g. blocks.2.hook_resid_post)')
    .option('--model-name <name>', 'SAELens and circuit-tracer metadata: the model (default: the SAE\'s data\'s)')
    .option('--context-size <n>', 'SAELens metadata: the context length (default: the SAE\'s data\'s)', intFlag('--context-size', 1))
    .option('--force', 'replace --out if it exists')
    .action((run: string, o: { format: 'saelens' | 'sparsify' | 'circuit-tracer'; out: string; hookName?: string; modelName?: string; contextSize?: number; force?: boolean }) => {
      refuseExisting(o.out, '--out', Boolean(o.force));
      const sae = loadSae(run);
      if (o.format === 'saelens') exportSaeLens(sae, o.out, saeLensMeta(sae, { hookName: o.hookName, modelName: o.modelName, contextSize: o.contextSize }));
      else if (o.format === 'circuit-tracer') exportCircuitTracer(sae, o.out, { modelName: o.modelName });
      else exportSparsify(sae, o.out);
      console.log(`saekit: wrote ${o.format} folder ${o.out}`);
    });
}

export function importCommand(): Command {
  return new Command('import')
    .description('read a SAELens, sparsify or Gemma Scope SAE (a folder, or hf:ORG/REPO[/PATH][@REV] from the hub) into a saekit SAE folder')
    .argument('<sae>', 'SAELens folder (cfg.json + sae_weights.safetensors), sparsify folder (cfg.json + sae.safetensors), Gemma Scope folder (params.npz), or hf:ORG/REPO[/PATH][@REV]')
    .requiredOption('--out <run>', 'saekit folder to write')
    .option('--norm-scaling-factor <s>', 'SAELens SAEs with normalize_activations "expected_average_only_in": the norm scaling factor (folded into the weights)', realFlag('--norm-scaling-factor', 0, Infinity))
    .option('--force', 'replace --out if it exists')
    .action(async (spec: string, o: { out: string; normScalingFactor?: number; force?: boolean }) => {
      refuseExisting(o.out, '--out', Boolean(o.force));
      const sae = await openSae(spec, o.normScalingFactor !== undefined ? { normScale: o.normScalingFactor } : {});
      saveSae(o.out, sae);
      const at = sae.cfg.origin?.layer !== undefined ? `, reads ${sae.cfg.origin.model ?? 'its model'} layer ${sae.cfg.origin.layer} ${sae.cfg.origin.site}` : '';
      console.log(`saekit: imported ${sae.cfg.arch} SAE d=${sae.cfg.d} n=${sae.cfg.n}${sae.cfg.k ? ` k=${sae.cfg.k}` : ''}${at} into ${o.out}`);
    });
}
