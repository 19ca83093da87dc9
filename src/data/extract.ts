/**
 * Caching a language model's activations as shards (docs/design.md §5), resumable: after every shard
 * the position in the corpus is saved beside the shards, so a killed extraction continues
 * where its last complete shard ended, and the manifest is written last.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { lockFolder } from '../io/lock.js';
import { readJsonObject } from '../io/json.js';
import { Progress } from '../util/progress.js';
import type { LmActivations } from './lm.js';
import { readManifest, ShardWriter, type Manifest, type ShardOrigin } from './shards.js';
import type { SourceState } from './source.js';

const STATE = 'extract-state.json';

export interface ExtractOptions {
  out: string;
  /** what the manifest records as the activations' origin; a resume must match it */
  origin: ShardOrigin;
  dtype?: 'F32' | 'BF16';
  shardTokens?: number;
  resume?: boolean;
  progress?: boolean;
}

export function extractActivations(src: LmActivations, o: ExtractOptions): Manifest {
  const release = lockFolder(o.out, 'saekit extract');
  try {
    return extractLocked(src, o);
  } finally {
    release();
  }
}

function extractLocked(src: LmActivations, o: ExtractOptions): Manifest {
  const statePath = join(o.out, STATE);
  const dtype = o.dtype ?? 'F32';
  // shards of at most 2^26 floats (256 MB in F32)
  const shardTokens = o.shardTokens ?? Math.max(1, Math.min(65536, Math.floor((1 << 26) / src.d)));
  let shards: { file: string; tokens: number }[] = [];
  if (existsSync(join(o.out, 'manifest.json')) || existsSync(statePath)) {
    if (!o.resume) throw new Error(`${o.out}: already holds an extraction; pass --resume to continue it, or choose another --out`);
    if (existsSync(join(o.out, 'manifest.json'))) {
      // finished: a state file beside the manifest is a stale leftover
      rmSync(statePath, { force: true });
      return readManifest(o.out).manifest;
    }
    const saved = readJsonObject(statePath) as { origin: unknown; shards: typeof shards; source: SourceState; dtype: string; shard_tokens: number };
    if (JSON.stringify(saved.origin) !== JSON.stringify(o.origin) || saved.dtype !== dtype || saved.shard_tokens !== shardTokens) {
      throw new Error(`${statePath}: the interrupted extraction used other settings (${JSON.stringify(saved.origin)}, ${saved.dtype}, ${saved.shard_tokens} tokens per shard); resume with the same ones`);
    }
    shards = saved.shards;
    src.restore(saved.source);
  }
  const writer = new ShardWriter(o.out, { d: src.d, dOut: src.dOut, dtype, shardTokens, withTokens: true, source: o.origin, shards });
  const done0 = shards.reduce((a, s) => a + s.tokens, 0);
  const bar = o.progress ? new Progress('extract', src.length, 'tokens', done0) : null;
  const x = new Float32Array(shardTokens * src.d), tok = new Int32Array(shardTokens), pos = new Int32Array(shardTokens);
  const y = src.dOut ? new Float32Array(shardTokens * src.dOut) : undefined;
  let done = done0;
  for (;;) {
    const n = src.readWithTokens(x, shardTokens, tok, pos, y);
    if (n === 0) break;
    writer.write(x, n, tok, pos, y);
    writer.flush();
    done += n;
    writeJsonAtomic(statePath, { origin: o.origin, dtype, shard_tokens: shardTokens, shards: writer.shards, source: src.state() });
    bar?.update(done);
  }
  bar?.done();
  const manifest = writer.close();
  rmSync(statePath, { force: true });
  return manifest;
}
