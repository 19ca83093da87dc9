/**
 * safetensors: 8-byte little-endian header length N, N bytes of JSON header
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}),
 * then the raw little-endian data; offsets are relative to the end of the header.
 *
 * The reader opens the file, validates the whole header against the file size, and reads
 * tensors (or row ranges of them) from their offsets on demand, so a 20 GB file is never
 * read into one buffer. The writer writes atomically (temp file + rename).
 */
import { bf16ToF32, f32ToBf16 } from '../util/bf16.js';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';

export type DType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
const DTYPE_BYTES: Record<DType, number> = { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const MAX_HEADER = 100 * 1024 * 1024;

export interface TensorInfo {
  dtype: DType;
  shape: number[];
  /** absolute byte offsets in the file */
  begin: number;
  end: number;
}

export class SafetensorsError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: not a valid safetensors file: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array | Uint16Array;

/** A tensor to write: F32 from Float32Array, I32 from Int32Array, I64 from BigInt64Array,
 *  BF16/F16 from Float32Array (rounded to nearest even) or from their raw Uint16Array bits. */
export interface TensorOut {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export class SafetensorsFile {
  readonly path: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  #fd: number;

  private constructor(path: string, fd: number, tensors: Map<string, TensorInfo>, metadata: Record<string, string>) {
    this.path = path;
    this.#fd = fd;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new SafetensorsError(path, `cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      const { tensors, metadata } = parseHeader(path, fd);
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.path}: no tensor named "${name}" (has: ${[...this.tensors.keys()].join(', ') || 'none'})`);
    return t;
  }

  /** Raw bytes of rows [start, start+count) along the first dimension of a tensor. */
  readBytes(name: string, start = 0, count?: number): Buffer {
    const t = this.info(name);
    const rows = t.shape.length === 0 ? 1 : t.shape[0]!;
    const rowBytes = rows === 0 ? 0 : (t.end - t.begin) / rows;
    const n = count ?? rows - start;
    if (start < 0 || n < 0 || start + n > rows) throw new RangeError(`${this.path}: rows ${start}..${start + n} of "${name}" are outside its ${rows} rows`);
    const buf = Buffer.allocUnsafe(n * rowBytes);
    let off = 0;
    while (off < buf.length) {
      const got = readSync(this.#fd, buf, off, buf.length - off, t.begin + start * rowBytes + off);
      if (got === 0) throw new SafetensorsError(this.path, `file ended while reading "${name}"`);
      off += got;
    }
    return buf;
  }

  /** A float tensor (F32, F16, BF16, F64) as Float32Array, optionally a row range. */
  readF32(name: string, start = 0, count?: number): Float32Array {
    const { dtype } = this.info(name);
    const buf = this.readBytes(name, start, count);
    switch (dtype) {
      case 'F32': return new Float32Array(copyOut(buf).buffer);
      case 'F64': return Float32Array.from(new Float64Array(copyOut(buf).buffer));
      case 'BF16': return bf16ToF32(new Uint16Array(copyOut(buf).buffer));
      case 'F16': return f16ToF32(new Uint16Array(copyOut(buf).buffer));
      default: throw new Error(`${this.path}: tensor "${name}" has dtype ${dtype}, expected a float type (F32, F16, BF16, F64)`);
    }
  }

  /** An integer tensor (I32, or I64 within ±2^31) as Int32Array. */
  readI32(name: string, start = 0, count?: number): Int32Array {
    const { dtype } = this.info(name);
    const buf = this.readBytes(name, start, count);
    if (dtype === 'I32') return new Int32Array(copyOut(buf).buffer);
    if (dtype === 'I64') {
      const big = new BigInt64Array(copyOut(buf).buffer);
      const out = new Int32Array(big.length);
      for (let i = 0; i < big.length; i++) {
        const v = big[i]!;
        if (v > 2147483647n || v < -2147483648n) throw new RangeError(`${this.path}: "${name}"[${i}] = ${v} does not fit in int32`);
        out[i] = Number(v);
      }
      return out;
    }
    throw new Error(`${this.path}: tensor "${name}" has dtype ${dtype}, expected I32 or I64`);
  }

  /** The raw typed view of any tensor, in its own dtype. */
  read(name: string): TensorData {
    const { dtype } = this.info(name);
    const ab = copyOut(this.readBytes(name)).buffer;
    switch (dtype) {
      case 'F32': return new Float32Array(ab);
      case 'F64': return new Float64Array(ab);
      case 'I32': return new Int32Array(ab);
      case 'I64': return new BigInt64Array(ab);
      case 'I16': return new Int16Array(ab);
      case 'F16': case 'BF16': return new Uint16Array(ab);
      case 'I8': return new Int8Array(ab);
      case 'U8': case 'BOOL': return new Uint8Array(ab);
    }
  }
}

/** A fresh, aligned copy (Buffer slices can sit at odd offsets in a shared pool). */
function copyOut(buf: Buffer): Uint8Array {
  const out = new Uint8Array(buf.length);
  out.set(buf);
  return out;
}

function parseHeader(path: string, fd: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const fileSize = fstatSync(fd).size;
  const bad = (problem: string): never => { throw new SafetensorsError(path, problem); };
  if (fileSize < 8) bad(`file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  readSync(fd, lenBuf, 0, 8, 0);
  const headerLen = lenBuf.readBigUInt64LE(0);
  if (headerLen > BigInt(fileSize - 8)) bad(`header length ${headerLen} runs past the end of the file (${fileSize} bytes)`);
  if (headerLen > BigInt(MAX_HEADER)) bad(`header length ${headerLen} exceeds the ${MAX_HEADER}-byte limit`);
  const n = Number(headerLen);
  const hb = Buffer.alloc(n);
  readSync(fd, hb, 0, n, 8);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(hb);
  } catch {
    return bad('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return bad(`header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return bad('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Object.values(raw).some((v) => typeof v !== 'string')) bad('__metadata__ must map strings to strings');
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) bad(`tensor "${name}": entry is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) bad(`tensor "${name}": unknown dtype ${JSON.stringify(e.dtype)} (expected one of ${Object.keys(DTYPE_BYTES).join(', ')})`);
    if (!Array.isArray(e.shape) || e.shape.some((s) => !Number.isSafeInteger(s) || s < 0)) bad(`tensor "${name}": shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || off.some((o) => !Number.isSafeInteger(o) || o < 0) || off[0] > off[1]) {
      bad(`tensor "${name}": data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 <= begin <= end`);
    }
    const [b, en] = off as [number, number];
    if (en > dataLen) bad(`tensor "${name}": data_offsets [${b}, ${en}] run past the data section (${dataLen} bytes)`);
    const dtype = e.dtype as DType;
    const count = (e.shape as number[]).reduce((a, s) => a * s, 1);
    const want = count * DTYPE_BYTES[dtype];
    if (want !== en - b) bad(`tensor "${name}": shape ${JSON.stringify(e.shape)} of ${dtype} needs ${want} bytes but data_offsets span ${en - b}`);
    tensors.set(name, { dtype, shape: e.shape as number[], begin: dataStart + b, end: dataStart + en });
  }
  const spans = [...tensors.entries()].sort((x, y) => x[1].begin - y[1].begin || x[1].end - y[1].end);
  for (let i = 1; i < spans.length; i++) {
    const [pn, p] = spans[i - 1]!, [cn, c] = spans[i]!;
    if (c.begin < p.end) bad(`tensors "${pn}" and "${cn}" overlap (bytes ${p.begin - dataStart}..${p.end - dataStart} and ${c.begin - dataStart}..${c.end - dataStart})`);
  }
  return { tensors, metadata };
}

export { bf16ToF32, f32ToBf16 };

export function f16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

/** Round to nearest even, with subnormals, overflow to infinity, NaN kept. */
export function f32ToF16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = u[i]!;
    const sign = (v >>> 16) & 0x8000;
    const exp = (v >>> 23) & 0xff, man = v & 0x7fffff;
    if (exp === 0xff) { out[i] = sign | 0x7c00 | (man ? 0x200 : 0); continue; }
    const e = exp - 127 + 15;
    if (e >= 31) { out[i] = sign | 0x7c00; continue; }
    if (e <= 0) {
      if (e < -10) { out[i] = sign; continue; }
      const m = man | 0x800000, shift = 14 - e;
      const half = 1 << (shift - 1), rest = m & ((1 << shift) - 1);
      let r = m >>> shift;
      if (rest > half || (rest === half && (r & 1))) r++;
      out[i] = sign | r;
      continue;
    }
    let r = (e << 10) | (man >>> 13);
    const rest = man & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++;
    out[i] = sign | r;
  }
  return out;
}

function tensorBytes(name: string, t: TensorOut): Uint8Array {
  const count = t.shape.reduce((a, s) => a * s, 1);
  let data: TensorData = t.data;
  if ((t.dtype === 'BF16' || t.dtype === 'F16') && data instanceof Float32Array) {
    data = t.dtype === 'BF16' ? f32ToBf16(data) : f32ToF16(data);
  }
  const expected: Record<DType, string[]> = {
    F32: ['Float32Array'], F64: ['Float64Array'], I32: ['Int32Array'], I64: ['BigInt64Array'], I16: ['Int16Array'],
    BF16: ['Uint16Array'], F16: ['Uint16Array'], I8: ['Int8Array'], U8: ['Uint8Array'], BOOL: ['Uint8Array'],
  };
  if (!expected[t.dtype].includes(data.constructor.name)) {
    throw new TypeError(`safetensors write: tensor "${name}" is ${t.dtype} but its data is a ${data.constructor.name}`);
  }
  if (data.length !== count) throw new RangeError(`safetensors write: tensor "${name}" has shape ${JSON.stringify(t.shape)} (${count} elements) but ${data.length} values`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Writes tensors (in the order given) and optional string metadata to `path`, atomically. */
export function writeSafetensors(path: string, tensors: Record<string, TensorOut>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new Error('safetensors write: "__metadata__" is reserved');
    const bytes = tensorBytes(name, t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  // pad with spaces so the data section starts 8-byte aligned, as the reference writer does
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBuf = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBuf.length));
  writeFileAtomic(path, [len, headerBuf, ...chunks]);
}
