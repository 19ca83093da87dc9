import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, SafetensorsFile, writeSafetensors } from '../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'saekit-st-'));

/** A safetensors file from raw parts: header object (or string) and data bytes. */
function craft(name: string, header: unknown, data: Uint8Array, lengthOverride?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, json, data]));
  return path;
}

describe('safetensors', () => {
  it('round-trips every dtype, with metadata', () => {
    const path = join(dir, 'all.safetensors');
    const f32 = Float32Array.from([1.5, -2, 3.25, NaN, Infinity, -0]);
    const floats = Float32Array.from([1, -2.5, 0.333, 65504, 1e-7, -3e-5]);
    writeSafetensors(path, {
      f32: { dtype: 'F32', shape: [2, 3], data: f32 },
      bf16: { dtype: 'BF16', shape: [6], data: floats },
      f16: { dtype: 'F16', shape: [3, 2], data: floats },
      i32: { dtype: 'I32', shape: [4], data: Int32Array.from([0, -1, 2147483647, -2147483648]) },
      i64: { dtype: 'I64', shape: [2], data: BigInt64Array.from([5n, -7n]) },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    }, { format: 'pt', note: 'hi' });
    const f = SafetensorsFile.open(path);
    expect(f.metadata).toEqual({ format: 'pt', note: 'hi' });
    expect(Array.from(f.readF32('f32'))).toEqual(Array.from(f32));
    expect(f.info('f32').shape).toEqual([2, 3]);
    expectArrayNear(f.readF32('bf16'), floats, 2 ** -8);
    expectArrayNear(f.readF32('f16'), floats, 2 ** -11, 6e-8);
    expect(Array.from(f.readI32('i32'))).toEqual([0, -1, 2147483647, -2147483648]);
    expect(Array.from(f.read('i64') as BigInt64Array)).toEqual([5n, -7n]);
    expect(f.readI32('i64')).toEqual(Int32Array.from([5, -7]));
    expect(f.readF32('empty').length).toBe(0);
    expect(Array.from(f.readF32('f32', 1, 1))).toEqual(Array.from(f32.subarray(3)));
    f.close();
    // the data section starts 8-byte aligned
    const raw = readFileSync(path);
    expect(Number(raw.readBigUInt64LE(0)) % 8).toBe(0);
    // no temp file is left behind
    expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('reads a byte-exact file laid out by the format spec (as the Python library writes it)', () => {
    // header: {"ids":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[24,40]},
    //          "half":{"dtype":"BF16","shape":[2],"data_offsets":[40,44]},"__metadata__":{"format":"pt"}} padded with spaces
    const header = '{"__metadata__":{"format":"pt"},"half":{"dtype":"BF16","shape":[2],"data_offsets":[40,44]},' +
      '"ids":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[24,40]}}';
    const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
    const data = Buffer.from(
      '0100000000000000' + 'feffffffffffffff' + '0300000000000000' + // ids: 1, -2, 3 (I64 LE)
      '0000803f' + '00000040' + '00004040' + '00008040' + // weight: 1, 2, 3, 4 (F32 LE)
      '803f' + '00c0', // half: 1.0, -2.0 (BF16 LE)
      'hex');
    const path = craft('spec.safetensors', padded, data);
    const f = SafetensorsFile.open(path);
    expect([...f.tensors.keys()].sort()).toEqual(['half', 'ids', 'weight']);
    expect(Array.from(f.readF32('weight'))).toEqual([1, 2, 3, 4]);
    expect(Array.from(f.readI32('ids'))).toEqual([1, -2, 3]);
    expect(Array.from(f.readF32('half'))).toEqual([1, -2]);
    expect(f.metadata.format).toBe('pt');
    f.close();
  });

  const okEntry = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  it.each([
    ['empty file', () => { const p = join(dir, 'empty.st'); writeFileSync(p, ''); return p; }, /shorter than the 8-byte header length/],
    ['truncated data', () => craft('trunc.st', okEntry, new Uint8Array(4)), /run past the data section \(4 bytes\)/],
    ['header length past end', () => craft('hlen.st', okEntry, new Uint8Array(8), 10_000n), /header length 10000 runs past the end of the file/],
    ['bad JSON', () => craft('json.st', '{"a": {"dtype": ', new Uint8Array(8)), /header is not valid JSON/],
    ['not an object', () => craft('arr.st', '[1,2]', new Uint8Array(0)), /header is not a JSON object/],
    ['offsets out of range', () => craft('off.st', { a: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, new Uint8Array(8)), /"a": data_offsets \[8, 16\] run past/],
    ['begin after end', () => craft('rev.st', { a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, new Uint8Array(8)), /must be \[begin, end\]/],
    ['overlapping tensors', () => craft('overlap.st', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)), /tensors "a" and "b" overlap/],
    ['shape/bytes mismatch', () => craft('shape.st', { a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /needs 12 bytes but data_offsets span 8/],
    ['unknown dtype', () => craft('dtype.st', { a: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8)), /unknown dtype "Q4"/],
    ['negative shape', () => craft('neg.st', { a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, new Uint8Array(8)), /shape \[-2\] is not a list of non-negative integers/],
    ['missing file', () => join(dir, 'nope.st'), /cannot open \(ENOENT\)/],
  ])('rejects a corrupt file: %s', (_name, make, message) => {
    const path = make();
    expect(() => SafetensorsFile.open(path)).toThrow(message);
    expect(() => SafetensorsFile.open(path)).toThrow(path);
  });

  it('names the tensor and dtype when asked for the wrong thing', () => {
    const path = join(dir, 'named.safetensors');
    writeSafetensors(path, { ids: { dtype: 'I32', shape: [1], data: Int32Array.from([1]) } });
    const f = SafetensorsFile.open(path);
    expect(() => f.readF32('ids')).toThrow(/"ids" has dtype I32, expected a float type/);
    expect(() => f.info('W_enc')).toThrow(/no tensor named "W_enc" \(has: ids\)/);
    expect(() => f.readF32('ids', 0, 5)).toThrow(/outside its 1 rows/);
    f.close();
    // a tensor name that is not valid UTF-8
    const header = Buffer.concat([Buffer.from('{"act'), Buffer.from([0xff, 0xfe]), Buffer.from('":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(join(dir, 'latin.safetensors'), Buffer.concat([len, header, Buffer.alloc(4)]));
    expect(() => SafetensorsFile.open(join(dir, 'latin.safetensors'))).toThrow(/latin\.safetensors: not a valid safetensors file: header is not valid UTF-8/);
  });

  it('refuses to write data that does not match the shape', () => {
    expect(() => writeSafetensors(join(dir, 'x.st'), { a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(/shape \[3\] \(3 elements\) but 2 values/);
    expect(() => writeSafetensors(join(dir, 'x.st'), { a: { dtype: 'I32', shape: [2], data: new Float32Array(2) } })).toThrow(/is I32 but its data is a Float32Array/);
    expect(readdirSync(dir).filter((n) => n.startsWith('x.st'))).toEqual([]);
  });

  it('bf16 and f16 conversions round to nearest even and keep specials', () => {
    expect(Array.from(f32ToBf16(Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8])))).toEqual([0x3f80, 0x3f80, 0x3f82]);
    expect(Number.isNaN(bf16ToF32(f32ToBf16(Float32Array.from([NaN])))[0])).toBe(true);
    expect(Array.from(f16ToF32(f32ToF16(Float32Array.from([65504, 70000, -Infinity, 2 ** -24, 2 ** -26]))))).toEqual([65504, Infinity, -Infinity, 2 ** -24, 0]);
    expect(Array.from(f32ToF16(Float32Array.from([1, 1 + 2 ** -11, 1 + 3 * 2 ** -11])))).toEqual([0x3c00, 0x3c00, 0x3c02]);
  });
});

function expectArrayNear(got: Float32Array, want: Float32Array, rel: number, abs = 0): void {
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i]! - want[i]!), `element ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(rel * Math.abs(want[i]!) + abs);
  }
}
