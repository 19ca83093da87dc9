/** bfloat16: the upper 16 bits of a float32 (8 exponent bits, 7 mantissa bits). */

/** bf16 bits → float32 (exact). */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return new Float32Array(u.buffer);
}

/** float32 → bf16 bits, rounded to nearest even; NaN stays NaN (quiet). Writes into `out`. */
export function f32ToBf16(x: Float32Array, out: Uint16Array = new Uint16Array(x.length)): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0; i < x.length; i++) {
    const v = u[i]!;
    if ((v & 0x7fffffff) > 0x7f800000) out[i] = (v >>> 16) | 0x40;
    else out[i] = ((v + 0x7fff + ((v >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}
