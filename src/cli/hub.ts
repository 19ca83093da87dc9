/** `saekit hub ls` and `saekit push`: the Hugging Face hub (HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE honoured). */
import { Command, Option } from 'commander';
import { hubListing, pushRun, type PushFormat } from '../app/hub.js';
import { formatHubRef } from '../hub/client.js';

export function hubCommand(): Command {
  const hub = new Command('hub').description('the Hugging Face hub: list what a repo holds');
  hub.addCommand(new Command('ls')
    .description('the SAEs in a hub repo (folder, layout, size), then its files')
    .argument('<repo>', 'hf:ORG/REPO[/PATH][@REV]')
    .action(async (spec: string) => {
      for (const line of await hubListing(spec)) console.log(line);
    }));
  return hub;
}

export function pushCommand(): Command {
  return new Command('push')
    .description('upload a run\'s SAE with a generated model card (architecture, data, held-out metrics, plots) to a hub repo, created if missing; needs HF_TOKEN')
    .argument('<run>', 'run folder (or any saekit SAE folder)')
    .argument('<target>', 'hf:ORG/REPO[/PATH][@BRANCH]: the repo and the folder in it')
    .addOption(new Option('--format <format>', 'layout of the uploaded SAE').choices(['saekit', 'saelens', 'sparsify']).default('saelens'))
    .option('--hook-name <name>', 'SAELens metadata: the hook point (default: from the SAE\'s data)')
    .option('--model-name <name>', 'SAELens metadata: the model (default: the SAE\'s data\'s)')
    .action(async (run: string, target: string, o: { format: PushFormat; hookName?: string; modelName?: string }) => {
      const { commit, files, ref } = await pushRun(run, target, { format: o.format, meta: { hookName: o.hookName, modelName: o.modelName } });
      console.log(`saekit: pushed ${files.join(', ')} to ${formatHubRef(ref)} (commit ${commit.slice(0, 12)})`);
    });
}
