/**
 * A model folder from the Hugging Face hub (hf:ORG/NAME[@REVISION]) in the hub cache:
 * config.json, the tokenizer files and the safetensors weights (sharded or not), downloaded
 * once through the hub client (src/hub/client.ts), resumable and verified.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchFiles, formatHubRef, listRepo, parseHubRef } from '../hub/client.js';

export async function downloadHfModel(spec: string, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<string> {
  const ref = parseHubRef(`hf:${spec}`, '--model');
  const names = new Set((await listRepo(ref)).files.map((f) => f.path));
  const need = (p: string): string => {
    if (!names.has(p)) throw new Error(`${formatHubRef(ref)}: the repo has no ${p} (saekit reads Hugging Face model folders: config.json, safetensors weights, a tokenizer)`);
    return p;
  };
  const files = [need('config.json')];
  if (names.has('tokenizer.json')) files.push('tokenizer.json');
  else files.push(need('vocab.json'), need('merges.txt'));
  for (const extra of ['tokenizer_config.json', 'special_tokens_map.json']) if (names.has(extra)) files.push(extra);
  const dir = await fetchFiles(ref, files, log);
  if (names.has('model.safetensors.index.json')) {
    await fetchFiles(ref, ['model.safetensors.index.json'], log);
    const map = (JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
    await fetchFiles(ref, [...new Set(Object.values(map))], log);
  } else {
    await fetchFiles(ref, [need('model.safetensors')], log);
  }
  return dir;
}
