/** Opens an activation source from a --data spec: synthetic[:options], lm:options (a live
 *  model forward), a shard folder or a file. */
import type { Backend } from '../compute/backend.js';
import { heldOutLmSpec, openLmSource } from './lm.js';
import { JoinedTargets, SplitTargets } from './pairs.js';
import { ShardSource } from './shards.js';
import { ShuffleBuffer } from './shuffle.js';
import type { ActivationSource } from './source.js';
import { parseSyntheticSpec, SyntheticSource } from './synthetic.js';

export async function openSource(spec: string, be: Backend, shuffle: 'none' | number = 'none', seed = 0): Promise<ActivationSource> {
  const base: ActivationSource = spec === 'synthetic' || spec.startsWith('synthetic:')
    ? new SyntheticSource(parseSyntheticSpec(spec), be)
    : spec.startsWith('lm:') ? await openLmSource(spec, be) : new ShardSource(spec);
  if (shuffle === 'none') return base;
  // a transcoder's rows are shuffled together with their targets
  return base.dOut ? new SplitTargets(new ShuffleBuffer(new JoinedTargets(base), shuffle, seed), base.d, base.dOut) : new ShuffleBuffer(base, shuffle, seed);
}

/** Held-out rows of the same data: synthetic stream 1 (same features), the corpus's last
 *  contexts holding `tokens` rows for a live model, or the data itself (shards). */
export async function openHeldOut(spec: string, be: Backend, tokens: number): Promise<ActivationSource> {
  if (spec === 'synthetic' || spec.startsWith('synthetic:')) return new SyntheticSource({ ...parseSyntheticSpec(spec), stream: 1 }, be);
  return openSource(spec.startsWith('lm:') ? heldOutLmSpec(spec, tokens) : spec, be);
}
