/**
 * Language-model forward benchmarks, as ratios in one run:
 *   - stories260K (when ../shared has it): batched prefill tokens/s vs the token-by-token
 *     KV-cache forward, and the batched forward's time / the time of its GEMMs
 *   - a GPT-2-small-shaped model with random weights (d=768, 12 heads, MLP 3072): the same
 *     forward / GEMM ratio at a size where the GEMMs should dominate
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../src/compute/backend.js';
import { packageRoot } from '../src/compute/native.js';
import { readLlama2c } from '../src/lm/llama2c.js';
import { KvCache, Transformer, type LayerWeights, type LmConfig } from '../src/lm/transformer.js';
import { Rng } from '../src/util/rng.js';
import { bestOf, fmt } from './timing.js';

type Report = (what: string, value: string, note?: string) => void;

/** Best-of time of one forward and, within it, of its GEMM and attention calls. */
function timeForward(be: Backend, run: () => void, reps: number): { sec: number; gemm: number; attention: number } {
  const gemm = be.gemm.bind(be), attention = be.attention.bind(be);
  let g = 0, a = 0, best = { sec: Infinity, gemm: 0, attention: 0 };
  be.gemm = (o) => { const t = performance.now(); gemm(o); g += performance.now() - t; };
  be.attention = (o) => { const t = performance.now(); attention(o); a += performance.now() - t; };
  try {
    run();
    for (let r = 0; r < reps; r++) {
      g = 0; a = 0;
      const t0 = performance.now();
      run();
      const sec = (performance.now() - t0) / 1000;
      if (sec < best.sec) best = { sec, gemm: g / 1000, attention: a / 1000 };
    }
  } finally {
    be.gemm = gemm;
    be.attention = attention;
  }
  return best;
}

export function benchLmForward(be: Backend, quick: boolean, report: Report): void {
  const bin = join(packageRoot(), '..', 'shared', 'models', 'stories260K', 'stories260K.bin');
  if (existsSync(bin)) {
    const { config, weights } = readLlama2c(bin);
    const m = new Transformer(config, weights, be, bin);
    const B = 32, T = 256;
    const rng = new Rng(5);
    const toks = Int32Array.from({ length: B * T }, (_, i) => (i % T === 0 ? 1 : 3 + rng.int(config.vocabSize - 3)));
    const f = timeForward(be, () => m.forward(toks, B, { lastLayer: 2 }), 3);
    report(`stories260K extraction (layer 2, ${B}x${T} tokens)`, `${fmt(B * T / f.sec)} tok/s`);
    report('  forward time / its GEMM time', fmt(f.sec / f.gemm), `attention kernel ${fmt(f.attention / f.sec)} of the forward; d=64 is tiny, elementwise work weighs`);
    const steps = 256;
    const incSec = bestOf(1, () => {
      const cache = new KvCache(config, 1, steps);
      for (let p = 0; p < steps; p++) m.forward(toks.subarray(p, p + 1), 1, { cache, lastLayer: 2 });
    });
    report('  batched prefill / token-by-token KV-cache speed', fmt((B * T / f.sec) / (steps / incSec)), `token-by-token ${fmt(steps / incSec)} tok/s`);
  } else {
    report('stories260K extraction', 'skipped', `${bin} not found`);
  }

  // GPT-2-small shape, random weights
  const d = 768, H = 12, F = 3072, layers = quick ? 2 : 6, T = 256, B = quick ? 2 : 4;
  const cfg: LmConfig = { family: 'gpt2', dim: d, hiddenDim: F, nLayers: layers, nHeads: H, nKvHeads: H, headDim: d / H, vocabSize: 1024, maxSeqLen: 1024, normEps: 1e-5, rope: 'none', ropeTheta: 0 };
  const rng = new Rng(9);
  const mat = (n: number): Float32Array => rng.normals(n, 0.02);
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const L = (): LayerWeights => ({
    norm1: ones(d), norm1Bias: mat(d), wq: mat(d * d), wk: mat(d * d), wv: mat(d * d), wo: mat(d * d), bq: mat(d), bk: mat(d), bv: mat(d), bo: mat(d),
    norm2: ones(d), norm2Bias: mat(d), w1: mat(F * d), b1: mat(F), w2: mat(d * F), b2: mat(d),
  });
  const embed = mat(cfg.vocabSize * d);
  const m = new Transformer(cfg, { embed, posEmbed: mat(cfg.maxSeqLen * d), layers: Array.from({ length: layers }, L), normF: ones(d), normFBias: mat(d), head: embed }, be, 'random');
  const toks = Int32Array.from({ length: B * T }, () => rng.int(cfg.vocabSize));
  const f = timeForward(be, () => m.forward(toks, B, { lastLayer: layers - 1 }), 2);
  const flops = 2 * B * T * layers * (4 * d * d + 2 * d * F);
  report(`GPT-2-small shape, ${layers} layers, ${B}x${T} tokens`, `${fmt(B * T / f.sec)} tok/s`, `${fmt(flops / f.gemm / 1e9)} GFLOP/s in the GEMMs`);
  report('  forward time / its GEMM time', fmt(f.sec / f.gemm), `attention kernel ${fmt(f.attention / f.sec)} of the forward`);
}
