// Property-based fuzzing of the readers that take files from outside (fast-check): mutated and
// truncated safetensors files, arbitrary headers, arbitrary shard manifests. Whatever the bytes,
// the reader either reads them or fails with its own error naming the file: never another
// exception (a TypeError, a RangeError from a bad offset), a crash or a hang.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../src/data/shards.js';
import { SafetensorsFile, writeSafetensors } from '../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'saekit-fuzz-'));
const RUNS = 2500;

/** Opens and reads every tensor; returns 'ok' or the error message, and rethrows any error that
 *  is not the reader's own (its message names the file). */
function readAll(path: string): string {
  try {
    const f = SafetensorsFile.open(path);
    try {
      for (const [name, info] of f.tensors) {
        if (['F32', 'F16', 'BF16', 'F64'].includes(info.dtype)) f.readF32(name);
        else f.read(name);
      }
    } finally {
      f.close();
    }
    return 'ok';
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes(path) || err instanceof TypeError || err instanceof RangeError) throw err;
    return err.message;
  }
}

describe('fuzzed readers fail cleanly', () => {
  const valid = join(dir, 'valid.safetensors');
  writeSafetensors(valid, {
    a: { dtype: 'F32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 3) },
    b: { dtype: 'I32', shape: [5], data: Int32Array.from([1, 2, 3, 4, 5]) },
    c: { dtype: 'F32', shape: [0], data: new Float32Array(0) },
  }, { format: 'test' });
  const bytes = readFileSync(valid);

  it(`safetensors: ${RUNS} files with flipped bytes and truncations`, () => {
    let clean = 0, ok = 0;
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
      fc.option(fc.nat(bytes.length), { nil: undefined }),
      (flips, cut) => {
        const b = Buffer.from(bytes);
        for (const [at, v] of flips) b[at] = v;
        const path = join(dir, 'mutated.safetensors');
        writeFileSync(path, cut === undefined ? b : b.subarray(0, cut));
        if (readAll(path) === 'ok') ok++; else clean++;
      },
    ), { numRuns: RUNS, seed: 1 });
    // the mutations reach both outcomes
    expect(clean).toBeGreaterThan(RUNS / 10);
    expect(ok).toBeGreaterThan(0);
  });

  it(`safetensors: ${RUNS} arbitrary JSON headers over arbitrary data`, () => {
    const entry = fc.record({
      dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'F64', 'I32', 'I64', 'U8', 'BOOL'), fc.string(), fc.integer()),
      shape: fc.oneof(fc.array(fc.oneof(fc.nat(6), fc.integer(), fc.double(), fc.constant(2 ** 53)), { maxLength: 3 }), fc.anything()),
      data_offsets: fc.oneof(fc.tuple(fc.nat(64), fc.nat(64)), fc.array(fc.integer(), { maxLength: 3 }), fc.anything()),
    }, { requiredKeys: [] });
    const header = fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__metadata__', '__proto__', 'constructor')), fc.oneof(entry, fc.anything()), { maxKeys: 4 });
    fc.assert(fc.property(header, fc.uint8Array({ maxLength: 64 }), fc.boolean(), (h, data, lieAboutLength) => {
      const json = Buffer.from(JSON.stringify(h) ?? 'null');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(lieAboutLength ? json.length + data.length + 1 : json.length));
      const path = join(dir, 'header.safetensors');
      writeFileSync(path, Buffer.concat([len, json, data]));
      readAll(path);
    }), { numRuns: RUNS, seed: 2 });
  });

  it(`shard manifests: ${RUNS} arbitrary and mutated manifest.json files`, () => {
    const shardDir = join(dir, 'shards');
    mkdirSync(shardDir, { recursive: true });
    const good = { format: 'saekit-shards', d: 4, dtype: 'F32', total_tokens: 3, shards: [{ file: 'shard-00000.safetensors', tokens: 3 }], source: { layer: 1, site: 'resid_post' } };
    const manifest = fc.oneof(
      fc.anything(),
      fc.record({ d: fc.anything(), dtype: fc.anything(), total_tokens: fc.anything(), shards: fc.anything(), source: fc.anything() }, { requiredKeys: [] }).map((m) => ({ ...good, ...m })),
    );
    fc.assert(fc.property(manifest, fc.boolean(), (m, garble) => {
      const text = garble ? (JSON.stringify(m) ?? '').slice(0, 7) : JSON.stringify(m) ?? 'undefined';
      writeFileSync(join(shardDir, 'manifest.json'), text);
      try {
        readManifest(shardDir);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.includes(shardDir) || err instanceof TypeError || err instanceof RangeError) throw err;
      }
    }), { numRuns: RUNS, seed: 3 });
  });
});
