import { expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeBackend, type Backend } from '../src/compute/backend.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import type { LmConfig, ModelWeights } from '../src/lm/transformer.js';
import type { SaeParams } from '../src/sae/common.js';

/** The repository root, and node's arguments that run saekit's CLI from source. */
export const ROOT = join(import.meta.dirname, '..');
export const CLI = ['--import', import.meta.resolve('tsx'), join(ROOT, 'src/cli/main.ts')];

/** One CLI run from source, as CI runs it (plain progress lines). */
export const runCli = (args: string[], cwd = ROOT) => spawnSync(process.execPath, [...CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' } });

/** Starts a CLI run and stops it with SIGINT once `checkpoints` holds a finished step-N
 *  checkpoint; resolves to its exit code (130 when the signal stopped it). */
export async function interruptAfterCheckpoint(args: string[], checkpoints: string, timeoutMs = 120_000): Promise<number | null> {
  const job = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, CI: 'true' } });
  const exited = new Promise<number | null>((r) => job.once('exit', (code) => r(code)));
  for (const until = Date.now() + timeoutMs; Date.now() < until && !(existsSync(checkpoints) && readdirSync(checkpoints).some((d) => /^step-\d+$/.test(d)));) await new Promise((r) => setTimeout(r, 20));
  job.kill('SIGINT');
  return exited;
}

/** Asserts |a - e| <= atol + rtol·|e| elementwise; on failure names the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6, label = 'value' }: { rtol?: number; atol?: number; label?: string } = {}): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    if (a === e) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(`${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
      `(rtol ${rtol}, atol ${atol}; ${Number.isNaN(worstExcess) ? 'NaN' : 'over by ' + worstExcess.toExponential(3)})`);
  }
}

/** The native backend, or null; when SAEKIT_REQUIRE_NATIVE=1 (CI) a missing addon fails. */
export function nativeOrSkip(): Backend | null {
  const got = nativeBackend();
  if ('backend' in got) return got.backend;
  if (process.env.SAEKIT_REQUIRE_NATIVE === '1') throw new Error(`SAEKIT_REQUIRE_NATIVE=1 but ${got.reason}`);
  console.warn(`skipping native-kernel tests: ${got.reason} (run npm run build:native)`);
  return null;
}

/** ../shared/<rel> beside the project when it exists (real models, corpora, tokenizers); else
 *  null, after saying which tests skip and why (a user's fresh clone has no ../shared). */
export function sharedPath(rel: string): string | null {
  const p = join(import.meta.dirname, '..', '..', 'shared', rel);
  if (existsSync(p)) return p;
  console.warn(`skipping tests that need ${p}: not found (these real files live beside the project in ../shared, never in it)`);
  return null;
}

/** Central differences of loss over every element of the named tensors, against grads. */
export function checkFd(p: SaeParams, grads: SaeParams, names: readonly (keyof SaeParams)[], loss: () => number, tol = 2e-3): void {
  for (const name of names) {
    const t = p[name]!;
    for (let e = 0; e < t.length; e++) {
      const orig = t[e]!;
      t[e] = Math.fround(orig + 1e-3);
      const up = loss(), hUp = t[e]! - orig;
      t[e] = Math.fround(orig - 1e-3);
      const down = loss(), hDown = orig - t[e]!;
      t[e] = orig;
      const fd = (up - down) / (hUp + hDown), an = grads[name]![e]!;
      if (Math.abs(fd - an) > tol * Math.max(1, Math.abs(fd))) throw new Error(`d loss / d ${name}[${e}]: backward ${an}, finite difference ${fd}`);
    }
  }
}

/** Writes llama2.c weights as a Hugging Face llama folder (config.json + model.safetensors),
 *  with q/k rows permuted as HF's conversion script does, so that rotate-half rotary on the
 *  folder equals llama2.c's interleaved pairs. */
export function writeHfLlama(config: LmConfig, weights: ModelWeights, out: string): void {
  const hd = config.headDim, dim = config.dim, kvDim = config.nKvHeads * hd;
  const permute = (w: Float32Array, heads: number): Float32Array => {
    const p = new Float32Array(w.length);
    for (let h = 0; h < heads; h++) for (let i = 0; i < hd / 2; i++) for (let j = 0; j < 2; j++) {
      p.set(w.subarray((h * hd + 2 * i + j) * dim, (h * hd + 2 * i + j + 1) * dim), (h * hd + j * (hd / 2) + i) * dim);
    }
    return p;
  };
  const t: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {
    'model.embed_tokens.weight': { dtype: 'F32', shape: [config.vocabSize, dim], data: weights.embed },
    'model.norm.weight': { dtype: 'F32', shape: [dim], data: weights.normF },
  };
  weights.layers.forEach((L, l) => {
    const p = `model.layers.${l}.`;
    Object.assign(t, {
      [`${p}input_layernorm.weight`]: { dtype: 'F32', shape: [dim], data: L.norm1 },
      [`${p}self_attn.q_proj.weight`]: { dtype: 'F32', shape: [dim, dim], data: permute(L.wq, config.nHeads) },
      [`${p}self_attn.k_proj.weight`]: { dtype: 'F32', shape: [kvDim, dim], data: permute(L.wk, config.nKvHeads) },
      [`${p}self_attn.v_proj.weight`]: { dtype: 'F32', shape: [kvDim, dim], data: L.wv },
      [`${p}self_attn.o_proj.weight`]: { dtype: 'F32', shape: [dim, dim], data: L.wo },
      [`${p}post_attention_layernorm.weight`]: { dtype: 'F32', shape: [dim], data: L.norm2 },
      [`${p}mlp.gate_proj.weight`]: { dtype: 'F32', shape: [config.hiddenDim, dim], data: L.w1 },
      [`${p}mlp.up_proj.weight`]: { dtype: 'F32', shape: [config.hiddenDim, dim], data: L.w3! },
      [`${p}mlp.down_proj.weight`]: { dtype: 'F32', shape: [dim, config.hiddenDim], data: L.w2 },
    });
  });
  writeSafetensors(join(out, 'model.safetensors'), t);
  writeFileSync(join(out, 'config.json'), JSON.stringify({
    model_type: 'llama', hidden_size: dim, intermediate_size: config.hiddenDim, num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads, num_key_value_heads: config.nKvHeads, vocab_size: config.vocabSize,
    max_position_embeddings: config.maxSeqLen, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
  }));
}
