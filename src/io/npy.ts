/**
 * NumPy's .npy and .npz files (format versions 1–3, little-endian float arrays), as Gemma Scope
 * publishes its SAEs: an .npz is a zip of .npy members (stored or deflated), unpacked with fflate.
 */
import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { f16ToF32 } from './safetensors.js';

export interface NpyArray {
  shape: number[];
  /** the values as float32, in C (row-major) order */
  data: Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parses one .npy file's bytes; `name` is used in errors. */
export function parseNpy(bytes: Uint8Array, name: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error(`${name}: not a .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new Error(`${name}: truncated .npy header`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${name}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (shape.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`${name}: bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.subarray(start + headerLen);
  const width = { '<f4': 4, '<f8': 8, '<f2': 2, '|f4': 4 }[descr];
  if (!width) throw new Error(`${name}: dtype ${descr}; saekit reads little-endian float16/32/64 arrays (<f2, <f4, <f8)`);
  if (body.length < count * width) throw new Error(`${name}: ${body.length} bytes of data, shape [${shape}] of ${descr} needs ${count * width}`);
  const raw = body.slice(0, count * width); // a copy, aligned for the typed views
  let data: Float32Array;
  if (width === 4) data = new Float32Array(raw.buffer, 0, count);
  else if (width === 8) data = Float32Array.from(new Float64Array(raw.buffer, 0, count));
  else data = f16ToF32(new Uint16Array(raw.buffer, 0, count));
  for (let i = 0; i < count; i++) if (!Number.isFinite(data[i]!)) throw new Error(`${name}: value ${data[i]} at flat index ${i} is not finite`);
  if (fortran === 'True' && shape.length === 2) {
    const [r, c] = shape as [number, number];
    const t = new Float32Array(count);
    for (let j = 0; j < c; j++) for (let i = 0; i < r; i++) t[i * c + j] = data[j * r + i]!;
    data = t;
  } else if (fortran === 'True' && shape.length > 2) {
    throw new Error(`${name}: Fortran-ordered arrays of ${shape.length} dimensions are not supported`);
  }
  return { shape, data };
}

/** Every array of an .npz file, by name (the member's name without ".npy"). */
export function readNpz(path: string): Map<string, NpyArray> {
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(readFileSync(path));
  } catch (err) {
    throw new Error(`${path}: not a readable .npz (zip) file: ${(err as Error).message}`);
  }
  const out = new Map<string, NpyArray>();
  for (const [member, bytes] of Object.entries(members)) {
    if (!member.endsWith('.npy')) continue;
    out.set(member.slice(0, -4), parseNpy(bytes, `${path}:${member}`));
  }
  return out;
}
