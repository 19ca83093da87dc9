/** Matrix layout helpers shared by the format converters. */

/** Row-major [rows, cols] → [cols, rows]. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

type Weights = { W_enc: Float32Array; b_enc: Float32Array; W_dec: Float32Array; b_dec: Float32Array };

/**
 * An encoder that does not subtract b_dec from its input (pre = x·W_enc + b_enc, as SAELens's
 * apply_b_dec_to_input=false and Gemma Scope) in saekit's centred form:
 *   x·W_enc + b_enc  ==  (x − b_dec)·W_enc + (b_enc + b_dec·W_enc).
 * W_enc [n, d] row-major (saekit's layout).
 */
export function foldDecoderBias(p: Weights, n: number, d: number): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += p.b_dec[c]! * p.W_enc[i * d + c]!;
    p.b_enc[i]! += s;
  }
}

/**
 * An SAE that reads s·x and writes its reconstruction divided by s (SAELens's
 * expected_average_only_in normalization) as one on x, as SAELens's
 * fold_activation_norm_scaling_factor does: W_enc·s, W_dec/s, b_dec/s.
 */
export function foldInputScale(p: Weights, s: number): void {
  for (let e = 0; e < p.W_enc.length; e++) p.W_enc[e]! *= s;
  for (let e = 0; e < p.W_dec.length; e++) p.W_dec[e]! /= s;
  for (let e = 0; e < p.b_dec.length; e++) p.b_dec[e]! /= s;
}

/**
 * A TopK SAE that ranks pre-activations scaled by its decoder rows' norms and divides them out
 * again before decoding (SAELens's rescale_acts_by_decoder_norm) as a plain one: encoder row i
 * and b_enc[i] times ‖W_dec[i]‖, decoder row i divided by it. The same top k, the same output.
 */
export function foldDecoderNorm(p: Weights, n: number, d: number): void {
  const dOut = p.W_dec.length / n;
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let c = 0; c < dOut; c++) ss += p.W_dec[i * dOut + c]! ** 2;
    const norm = Math.sqrt(ss);
    if (norm === 0) continue;
    for (let c = 0; c < d; c++) p.W_enc[i * d + c]! *= norm;
    p.b_enc[i]! *= norm;
    for (let c = 0; c < dOut; c++) p.W_dec[i * dOut + c]! /= norm;
  }
}
