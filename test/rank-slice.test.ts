// A rank's slice of the data (--parallel data): the ranks' rows together are exactly the global
// batches one process reads, for seekable shards and for a generator; state and restore mid-way.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { rankRange } from '../src/compute/comm.js';
import { RankSlice, wholeLength } from '../src/data/rank-slice.js';
import { ShardSource, ShardWriter } from '../src/data/shards.js';
import type { ActivationSource } from '../src/data/source.js';
import { openData, parseDataSpec } from '../src/data/spec.js';
import { Rng } from '../src/util/rng.js';

const d = 3, B = 10, P = 3;

function shardFolder(rows: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'saekit-rank-'));
  const w = new ShardWriter(dir, { d, shardTokens: 7 });
  w.write(new Rng(3).normals(rows * d), rows);
  w.close();
  return dir;
}

/** Reads `steps` global batches as one process and as P ranks (each its share), comparing. */
function expectSlicesMakeTheBatches(open: () => ActivationSource, steps: number, restartAt = -1): void {
  const whole = open();
  let ranks = Array.from({ length: P }, (_, r) => new RankSlice(open(), B, rankRange(B, r, P).lo, rankRange(B, r, P).hi));
  const x = new Float32Array(B * d);
  for (let t = 0; t < steps; t++) {
    if (t === restartAt) {
      // a checkpoint and a resume: fresh readers restored from each rank's state
      const states = ranks.map((s) => s.state());
      ranks = states.map((st, r) => {
        const fresh = new RankSlice(open(), B, rankRange(B, r, P).lo, rankRange(B, r, P).hi);
        fresh.restore({ json: JSON.parse(JSON.stringify(st.json)) as Record<string, unknown>, ...(st.tensors ? { tensors: st.tensors } : {}) });
        return fresh;
      });
    }
    const got = whole.read(x, B);
    const parts = ranks.map((s, r) => {
      const mine = new Float32Array((rankRange(B, r, P).hi - rankRange(B, r, P).lo) * d);
      const n = s.read(mine, mine.length / d);
      return mine.subarray(0, n * d);
    });
    const joined = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) { joined.set(p, at); at += p.length; }
    expect(Array.from(joined), `step ${t}`).toEqual(Array.from(x.subarray(0, got * d)));
  }
}

describe('RankSlice', () => {
  it('shards (seeking past the other ranks\' rows): the ranks\' rows are the global batches, across shard edges and a resume, to the end', () => {
    const dir = shardFolder(57);
    expectSlicesMakeTheBatches(() => new ShardSource(dir), 6, 3);
    const r1 = new RankSlice(new ShardSource(dir), B, 3, 6);
    // 5 whole blocks give 3 rows each, the last 7 rows give rows 3..6 of their block
    expect(r1.length).toBe(5 * 3 + 3);
    expect(wholeLength(r1)).toBe(57);
  });

  it('a generator (whose rows depend on how many are asked for at once) is read a block at a time, as one process reads it', async () => {
    const be = getBackend('reference');
    const spec = parseDataSpec('synthetic:d=3,features=8,active=2,seed=4');
    const opened: ActivationSource[] = [];
    for (let i = 0; i < 1 + 2 * P; i++) opened.push(await openData(spec, be));
    expectSlicesMakeTheBatches(() => opened.shift()!, 5, 2);
  });

  it('openData gives each rank its slice under a shuffle buffer of its own seed', async () => {
    const be = getBackend('reference');
    const dir = shardFolder(40);
    const spec = parseDataSpec(dir);
    const read = async (rank: number) => {
      const src = await openData(spec, be, { shuffle: 8, seed: 1, rank: { rank, block: B, ...rankRange(B, rank, 2) } });
      const x = new Float32Array(20 * d);
      expect(src.read(x, 20)).toBe(20);
      expect(wholeLength(src)).toBe(40);
      return Array.from(x);
    };
    const [a, b] = [await read(0), await read(1)];
    // every row once, across the two ranks: the first 5 of each block to rank 0
    const all = new Float32Array(40 * d);
    new ShardSource(dir).read(all, 40);
    const rowsOf = (v: number[]) => Array.from({ length: v.length / d }, (_, i) => v.slice(i * d, (i + 1) * d).join(',')).sort();
    const expectRows = (rank: number) => rowsOf(Array.from({ length: 4 }, (_, blk) => Array.from(all.subarray((blk * B + rank * 5) * d, (blk * B + rank * 5 + 5) * d))).flat());
    expect(rowsOf(a)).toEqual(expectRows(0));
    expect(rowsOf(b)).toEqual(expectRows(1));
  });
});
