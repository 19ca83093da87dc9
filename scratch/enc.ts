import { getBackend } from '../src/compute/backend.js';
import { loadLm } from '../src/lm/load.js';
import { generate } from '../src/lm/generate.js';
const { model, tokenizer } = await loadLm('../shared/models/stories260K/stories260K.bin', getBackend());
const { ids, text } = generate(model, tokenizer, '', { steps: 256 });
const enc = [tokenizer.bos, ...tokenizer.encode(text)];
let same = enc.length === ids.length && enc.every((v, i) => v === ids[i]);
console.log(same, enc.length, ids.length);
let firstDiff = enc.findIndex((v, i) => v !== ids[i]); console.log(firstDiff, enc.slice(firstDiff, firstDiff+5), ids.slice(firstDiff, firstDiff+5));
