// Activation shards: written and read back (F32 and BF16, folder and single file), streamed
// across shard boundaries, with exact resume of position and clear errors on bad data.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ShardSource, ShardWriter } from '../src/data/shards.js';
import { ShuffleBuffer } from '../src/data/shuffle.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { Rng } from '../src/util/rng.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-shards-'));
const d = 5;
const rows = new Rng(3).normals(23 * d);

function writeSet(dtype: 'F32' | 'BF16'): string {
  const dir = tmp();
  const w = new ShardWriter(dir, { d, dtype, shardTokens: 7, withTokens: true, source: { model: 'test' } });
  w.write(rows.subarray(0, 10 * d), 10, Int32Array.from({ length: 10 }, (_, i) => 100 + i), Int32Array.from({ length: 10 }, (_, i) => i));
  w.write(rows.subarray(10 * d), 13);
  const m = w.close();
  expect(m.shards.map((s) => s.tokens)).toEqual([7, 7, 7, 2]);
  expect(m.total_tokens).toBe(23);
  return dir;
}

describe('activation shards', () => {
  it('streams F32 shards across boundaries in any read size', () => {
    const src = new ShardSource(writeSet('F32'));
    expect(src.d).toBe(d);
    expect(src.length).toBe(23);
    const out = new Float32Array(23 * d);
    let got = 0;
    for (const size of [3, 5, 1, 9, 4, 8]) got += src.read(out.subarray(got * d), size);
    expect(got).toBe(23);
    expect(Array.from(out)).toEqual(Array.from(rows));
    expect(src.read(out, 4)).toBe(0);
  });

  it('reads BF16 shards as float32 (rounded to bf16)', () => {
    const src = new ShardSource(writeSet('BF16'));
    const out = new Float32Array(23 * d);
    expect(src.read(out, 23)).toBe(23);
    for (let i = 0; i < out.length; i++) expect(Math.abs(out[i]! - rows[i]!)).toBeLessThanOrEqual(Math.abs(rows[i]!) * 2 ** -8);
  });

  it('a single .safetensors file with an activations tensor is a source', () => {
    const path = join(tmp(), 'acts.safetensors');
    writeSafetensors(path, { activations: { dtype: 'F32', shape: [23, d], data: rows } });
    const src = new ShardSource(path);
    const out = new Float32Array(23 * d);
    expect(src.read(out, 100)).toBe(23);
    expect(Array.from(out)).toEqual(Array.from(rows));
    const empty = join(tmp(), 'empty.safetensors');
    writeSafetensors(empty, { activations: { dtype: 'F32', shape: [100, 0], data: new Float32Array(0) } });
    expect(() => new ShardSource(empty)).toThrow(/empty\.safetensors: "activations" is \[100,0\]: expected at least one row, of width d >= 1/);
  });

  it('restores its position exactly, also inside a shuffle buffer', () => {
    const dir = writeSet('F32');
    const a = new ShuffleBuffer(new ShardSource(dir), 6, 1);
    const first = new Float32Array(9 * d);
    a.read(first, 9);
    const st = a.state();
    const restOfA = new Float32Array(14 * d);
    expect(a.read(restOfA, 14)).toBe(14);
    const b = new ShuffleBuffer(new ShardSource(dir), 6, 1);
    b.restore(st);
    const restOfB = new Float32Array(14 * d);
    expect(b.read(restOfB, 14)).toBe(14);
    expect(Array.from(restOfB)).toEqual(Array.from(restOfA));
    // a shuffle is a permutation of the rows
    const key = (arr: Float32Array) => Array.from({ length: arr.length / d }, (_, r) => arr[r * d]).sort();
    const all = new Float32Array(23 * d);
    all.set(first);
    all.set(restOfA, 9 * d);
    expect(key(all)).toEqual(key(rows));
  });

  it('reports the shard, row and column of a non-finite activation', () => {
    const dir = tmp();
    const bad = Float32Array.from(rows.subarray(0, 4 * d));
    bad[2 * d + 3] = NaN;
    const w = new ShardWriter(dir, { d, shardTokens: 100 });
    w.write(bad, 4);
    w.close();
    const src = new ShardSource(dir);
    expect(() => src.read(new Float32Array(4 * d), 4)).toThrow(/shard-00000.safetensors: row 2, column 3 of "activations" is NaN/);
  });

  it('names the manifest field that is wrong', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ d: 4, dtype: 'F64', total_tokens: 0, shards: [] }));
    expect(() => new ShardSource(dir)).toThrow(/manifest.json: field "dtype"/);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ d: 4, dtype: 'F32', total_tokens: 5, shards: [{ file: 'a', tokens: 3 }] }));
    expect(() => new ShardSource(dir)).toThrow(/total_tokens is 5 but the shards hold 3/);
    expect(() => new ShardSource(join(dir, 'nope'))).toThrow(/no such file or folder/);
  });
});
