/**
 * Opens a language model and its tokenizer from a --model spec: a llama2.c checkpoint (.bin,
 * tokenizer tok*.bin or tokenizer.bin beside it), a Hugging Face model folder (config.json +
 * safetensors + tokenizer files), or hf:ORG/NAME (downloaded once into a cache folder).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { readHfModel } from './hf.js';
import { downloadHfModel } from './hub.js';
import { readLlama2c } from './llama2c.js';
import { HfTokenizer, Llama2cTokenizer, type Tokenizer } from './tokenizer.js';
import { Transformer, type ModelWeights } from './transformer.js';

export interface LoadedLm {
  model: Transformer;
  tokenizer: Tokenizer;
}

/** The llama2.c tokenizer beside a checkpoint: tokenizer.bin, or the only tok*.bin. */
function llama2cTokenizerPath(modelPath: string): string {
  const dir = dirname(modelPath);
  if (existsSync(join(dir, 'tokenizer.bin'))) return join(dir, 'tokenizer.bin');
  const toks = readdirSync(dir).filter((f) => /^tok.*\.bin$/.test(f));
  if (toks.length === 1) return join(dir, toks[0]!);
  throw new Error(`${modelPath}: cannot tell which tokenizer belongs to it (${toks.length === 0 ? 'no tokenizer.bin or tok*.bin beside it' : `several: ${toks.join(', ')}`}); pass --tokenizer`);
}

/** Models already opened by this process, by spec, tokenizer and backend: one process loads a
 *  model once however many readers open it. */
const opened = new Map<string, Promise<LoadedLm>>();
let loads = 0;

/** How many times this process has read a model from disk (for tests of the cache). */
export const modelLoads = (): number => loads;

export function loadLm(spec: string, be: Backend, tokenizerPath?: string): Promise<LoadedLm> {
  const key = JSON.stringify([spec, tokenizerPath ?? null, be.name]);
  let got = opened.get(key);
  if (!got) {
    got = readLm(spec, be, tokenizerPath);
    opened.set(key, got);
    got.catch(() => opened.delete(key));
  }
  return got;
}

async function readLm(spec: string, be: Backend, tokenizerPath?: string): Promise<LoadedLm> {
  const path = spec.startsWith('hf:') ? await downloadHfModel(spec.slice(3)) : spec;
  if (!existsSync(path)) throw new Error(`--model ${spec}: no such file or folder`);
  if (statSync(path).isFile()) {
    loads++;
    const { config, weights } = readLlama2c(path);
    checkFinite(weights, path);
    const tokenizer = new Llama2cTokenizer(tokenizerPath ?? llama2cTokenizerPath(path), config.vocabSize);
    return { model: new Transformer(config, weights, be, path), tokenizer };
  }
  if (!existsSync(join(path, 'config.json'))) {
    const bins = readdirSync(path).filter((f) => f.endsWith('.bin') && !/^tok/.test(f) && f !== 'tokenizer.bin');
    if (bins.length === 1) return readLm(join(path, bins[0]!), be, tokenizerPath);
    throw new Error(`--model ${spec}: a folder without config.json (Hugging Face) or a single llama2.c .bin checkpoint`);
  }
  loads++;
  const { config, weights } = readHfModel(path);
  checkFinite(weights, path);
  const tokenizer = new HfTokenizer(tokenizerPath ?? path);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new Error(`${tokenizer.source}: the tokenizer has ${tokenizer.vocabSize} tokens but the model ${path} only ${config.vocabSize} (a tokenizer for another model?)`);
  }
  return { model: new Transformer(config, weights, be, path), tokenizer };
}

/** Refuses weights holding NaN or ±Inf, naming the tensor and the entry: they would turn every
 *  activation downstream into NaN. */
function checkFinite(w: ModelWeights, path: string): void {
  const tensors: [string, Float32Array | undefined][] = [['embed', w.embed], ['posEmbed', w.posEmbed], ['normF', w.normF], ['normFBias', w.normFBias], ['head', w.head]];
  w.layers.forEach((l, i) => {
    for (const [name, t] of Object.entries(l)) tensors.push([`layers.${i}.${name}`, t as Float32Array | undefined]);
  });
  for (const [name, t] of tensors) {
    if (!t) continue;
    for (let e = 0; e < t.length; e++) {
      if (!Number.isFinite(t[e]!)) throw new Error(`--model ${path}: weight ${name} holds ${t[e]} at entry ${e} (a model's weights must be finite)`);
    }
  }
}
