/**
 * Downloads a model folder from the Hugging Face hub into a cache folder (once): config.json,
 * the tokenizer files and the safetensors weights. Needs a network; tests use local folders.
 */
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readJsonObject } from '../io/json.js';
import { tempPathFor } from '../io/atomic.js';

export function hubCacheDir(repo: string): string {
  const root = process.env.SAEKIT_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'saekit');
  return join(root, 'hf', ...repo.split('/'));
}

/** Fetches repo (ORG/NAME, optionally @revision) into the cache; returns the local folder. */
export async function downloadHfModel(spec: string, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<string> {
  const [repo, revision = 'main'] = spec.split('@') as [string, string?];
  if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) throw new Error(`hf:${spec}: expected hf:ORG/NAME[@revision]`);
  const dir = hubCacheDir(repo);
  mkdirSync(dir, { recursive: true });
  const endpoint = process.env.HF_ENDPOINT ?? 'https://huggingface.co';
  const headers: Record<string, string> = process.env.HF_TOKEN ? { authorization: `Bearer ${process.env.HF_TOKEN}` } : {};
  const get = async (file: string, required: boolean): Promise<boolean> => {
    const dest = join(dir, file);
    if (existsSync(dest)) return true;
    const url = `${endpoint}/${repo}/resolve/${revision}/${file}`;
    let res: Response;
    try {
      res = await fetch(url, { headers });
    } catch (err) {
      throw new Error(`hf:${spec}: cannot reach ${url} (${(err as Error).message}); with no network, pass a local model folder instead`);
    }
    if (res.status === 404 && !required) return false;
    if (!res.ok || !res.body) throw new Error(`hf:${spec}: ${url} answered ${res.status} ${res.statusText}`);
    log(`downloading ${url}`);
    const tmp = tempPathFor(dest);
    try {
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(tmp));
      renameSync(tmp, dest);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return true;
  };
  await get('config.json', true);
  if (!(await get('tokenizer.json', false))) {
    await get('vocab.json', true);
    await get('merges.txt', true);
  }
  await get('tokenizer_config.json', false);
  if (await get('model.safetensors.index.json', false)) {
    const map = readJsonObject(join(dir, 'model.safetensors.index.json')).weight_map as Record<string, string>;
    for (const file of new Set(Object.values(map))) await get(file, true);
  } else {
    await get('model.safetensors', true);
  }
  return dir;
}
