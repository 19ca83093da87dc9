import { getBackend } from '../src/compute/backend.js';
import { readLlama2c } from '../src/lm/llama2c.js';
import { Llama2cTokenizer } from '../src/lm/tokenizer.js';
import { Transformer, KvCache } from '../src/lm/transformer.js';
import { generate } from '../src/lm/generate.js';
import { readFileSync } from 'node:fs';
const { config, weights } = readLlama2c('../shared/models/stories260K/stories260K.bin');
const m = new Transformer(config, weights, getBackend(), 'x');
const tok = new Llama2cTokenizer('../shared/models/stories260K/tok512.bin', config.vocabSize);
const t0 = Date.now();
const { text } = generate(m, tok, '', { steps: 256 });
const gold = readFileSync('../shared/models/stories260K/greedy-256-steps.txt', 'utf8');
console.log(JSON.stringify(text)); console.log(JSON.stringify(gold)); console.log(text === gold, Date.now()-t0);
console.log(tok.encode('Once upon a time, there was a little girl named Lily.'), tok.decode(tok.encode('Once upon a time, there was a little girl named Lily.')));
{
  const { ids } = generate(m, tok, '', { steps: 256 });
  const hid = m.forward(Int32Array.from(ids.slice(0, 256)), 1)!;
  const lg = m.logits(hid, 255, 1);
  const order = Array.from(lg.keys()).sort((a, b) => lg[b]! - lg[a]!).slice(0, 4);
  console.log(order.map((i) => [i, JSON.stringify(tok.piece(i)), lg[i]]));
}
{
  const { ids } = generate(m, tok, '', { steps: 256 });
  const T = 256;
  const hid = m.forward(Int32Array.from(ids.slice(0, T)), 1)!;
  const full = m.logits(hid, 0, T);
  const cache = new KvCache(m.config, 1, T);
  let worst = 0, wpos = -1;
  for (let p = 0; p < T; p++) {
    const h1 = m.forward(Int32Array.of(ids[p]!), 1, { cache })!;
    const l1 = m.logits(h1, 0, 1);
    for (let j = 0; j < 512; j++) { const e = Math.abs(l1[j]! - full[p * 512 + j]!); if (e > worst) { worst = e; wpos = p; } }
  }
  console.log('worst', worst, wpos, ids.length);
}
