/** `saekit info FILE|DIR`: what a safetensors file, SAE folder, run or shard folder holds. */
import { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ShardSource } from '../data/shards.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { hasSaeWeights, readSaeConfig } from '../sae/folder.js';
import { checkpointDirs } from '../train/checkpoint.js';

function describeFile(path: string): string[] {
  const f = SafetensorsFile.open(path);
  try {
    const lines = [`${path}: safetensors, ${f.tensors.size} tensors, ${statSync(path).size} bytes`];
    for (const [name, t] of f.tensors) lines.push(`  ${name.padEnd(24)} ${t.dtype.padEnd(5)} [${t.shape.join(', ')}]`);
    const meta = Object.entries(f.metadata);
    if (meta.length) lines.push(`  metadata: ${meta.map(([k, v]) => `${k}=${v}`).join(', ')}`);
    return lines;
  } finally {
    f.close();
  }
}

export function info(path: string): string[] {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
  if (statSync(path).isFile()) return describeFile(path);
  const lines: string[] = [];
  if (existsSync(join(path, 'manifest.json'))) {
    // every shard's header is checked against the manifest, not just the manifest repeated
    const { manifest } = new ShardSource(path);
    lines.push(`${path}: activation shards, d=${manifest.d}${manifest.d_out ? `, targets d_out=${manifest.d_out}` : ''}, ${manifest.dtype}, ${manifest.total_tokens} tokens in ${manifest.shards.length} shards (each checked against the manifest)`);
    if (Object.keys(manifest.source).length) lines.push(`  source: ${JSON.stringify(manifest.source)}`);
    return lines;
  }
  for (const name of ['cfg.json', 'config.json', 'eval.json']) {
    if (existsSync(join(path, name))) lines.push(`${name}: ${readFileSync(join(path, name), 'utf8').trim().replace(/\s*\n\s*/g, ' ')}`);
  }
  const shards = existsSync(join(path, 'cfg.json')) && hasSaeWeights(path) ? readSaeConfig(path).shards ?? [] : [];
  for (const weights of ['sae.safetensors', 'sae_weights.safetensors', ...shards.map((s) => s.file)]) {
    if (existsSync(join(path, weights))) lines.push(...describeFile(join(path, weights)));
  }
  const ck = checkpointDirs(path);
  if (ck.length) lines.push(`checkpoints: ${ck.map((c) => `step-${c.step}`).join(', ')}`);
  if (!lines.length) throw new Error(`${path}: not a safetensors file, SAE folder, run folder or shard folder`);
  return lines;
}

export function infoCommand(): Command {
  return new Command('info')
    .description('describe a safetensors file, an SAE or run folder, or an activation-shard folder')
    .argument('<path>')
    .action((path: string) => console.log(info(path).join('\n')));
}
