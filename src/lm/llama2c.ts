/**
 * llama2.c checkpoints (karpathy/llama2.c `export.py` legacy format): a header of 7 int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative
 * vocab_size means an unshared output matrix at the end), then float32 tensors, [out][in]
 * row-major, grouped by kind across layers.
 */
import { readFileSync } from 'node:fs';
import type { LayerWeights, LmConfig, ModelWeights } from './transformer.js';

export function readLlama2c(path: string): { config: LmConfig; weights: ModelWeights } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new Error(`${path}: cannot read the checkpoint (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (buf.length < 28) throw new Error(`${path}: ${buf.length} bytes is too short for a llama2.c checkpoint header (28 bytes)`);
  const [dim, hidden, nLayers, nHeads, nKv, vocabRaw, seqLen] = Array.from({ length: 7 }, (_, i) => buf.readInt32LE(4 * i)) as number[] as [number, number, number, number, number, number, number];
  const vocab = Math.abs(vocabRaw);
  const sane = dim > 0 && hidden > 0 && nLayers > 0 && nHeads > 0 && nKv > 0 && vocab > 0 && seqLen > 0 &&
    dim % nHeads === 0 && nHeads % nKv === 0 && (dim / nHeads) % 2 === 0 && dim < 1 << 16 && nLayers < 1024 && vocab < 1 << 22;
  if (!sane) throw new Error(`${path}: not a llama2.c checkpoint (header dim=${dim} hidden_dim=${hidden} n_layers=${nLayers} n_heads=${nHeads} n_kv_heads=${nKv} vocab_size=${vocabRaw} seq_len=${seqLen} is not a valid model shape)`);
  const headDim = dim / nHeads, kvDim = nKv * headDim;
  const floats = vocab * dim + nLayers * (2 * dim + dim * dim * 2 + 2 * kvDim * dim + 3 * hidden * dim) + dim +
    seqLen * headDim + (vocabRaw < 0 ? vocab * dim : 0);
  const need = 28 + 4 * floats;
  if (buf.length !== need) {
    throw new Error(`${path}: ${buf.length} bytes, but a llama2.c checkpoint with this header (dim=${dim}, n_layers=${nLayers}, vocab=${vocab}) has ${need}` +
      (buf.length < need ? ' (truncated?)' : ''));
  }
  const all = new Float32Array(floats);
  Buffer.from(all.buffer).set(buf.subarray(28));
  let off = 0;
  const take = (n: number): Float32Array => { const t = all.subarray(off, off + n); off += n; return t; };
  const perLayer = (n: number): Float32Array[] => Array.from({ length: nLayers }, () => take(n));
  const embed = take(vocab * dim);
  const attnNorm = perLayer(dim), wq = perLayer(dim * dim), wk = perLayer(kvDim * dim), wv = perLayer(kvDim * dim), wo = perLayer(dim * dim);
  const ffnNorm = perLayer(dim), w1 = perLayer(hidden * dim), w2 = perLayer(dim * hidden), w3 = perLayer(hidden * dim);
  const normF = take(dim);
  take(seqLen * headDim); // the legacy RoPE tables (cos and sin), recomputed instead
  const head = vocabRaw < 0 ? take(vocab * dim) : embed;
  const layers: LayerWeights[] = Array.from({ length: nLayers }, (_, l) => ({
    norm1: attnNorm[l]!, wq: wq[l]!, wk: wk[l]!, wv: wv[l]!, wo: wo[l]!, norm2: ffnNorm[l]!, w1: w1[l]!, w2: w2[l]!, w3: w3[l]!,
  }));
  return {
    config: { family: 'llama', dim, hiddenDim: hidden, nLayers, nHeads, nKvHeads: nKv, headDim, vocabSize: vocab, maxSeqLen: seqLen, normEps: 1e-5, rope: 'interleaved', ropeTheta: 10000 },
    weights: { embed, layers, normF, head },
  };
}
