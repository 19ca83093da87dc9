// Cross-layer transcoder (src/sae/arch/clt.ts): the backward against finite differences of an
// independent float64 loss written from the definition (per-layer top k, each latent writing to
// its layer and the later ones only, each output layer's FVU summed), on both backends; the
// decoder's blocks before a latent's layer stay zero through training; a trained CLT on
// stories260K (skipped without the shared model) reconstructs every layer's MLP output and
// saves, loads and exports in circuit-tracer's layout.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend, referenceBackend, type Backend } from '../src/compute/backend.js';
import { openLmSource, parseLmSpec } from '../src/data/lm.js';
import { downstreamEval } from '../src/eval/downstream.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { loadSae } from '../src/sae/folder.js';
import { openLive } from '../src/app/live.js';
import { encode } from '../src/sae/encode.js';
import { loadLm } from '../src/lm/load.js';
import type { SaeParams } from '../src/sae/common.js';
import { cltDims, cltForwardBackward, maskDecoder } from '../src/sae/arch/clt.js';
import { Rng } from '../src/util/rng.js';
import { checkFd, interruptAfterCheckpoint, nativeOrSkip, runCli, sharedPath } from './helpers.js';
import { cltOf, transcoder } from './helpers/clt.js';

const S = 3, dm = 4, m = 5, n = S * m, w = S * dm, B = 6, k = 2;
const g = cltDims(w, n, S);

function params(rng: Rng): SaeParams {
  const W_dec = rng.normals(n * w, 0.5);
  maskDecoder(W_dec, g);
  return { W_enc: rng.normals(n * dm, 0.6), b_enc: rng.normals(n, 0.3), W_dec, b_dec: rng.normals(w, 0.2) };
}

/** The loss from the definition, in float64: reads only the blocks a latent owns. `batch`: each
 *  layer keeps the top B·k of the whole batch's pre-activations instead of each row's top k. */
function loss64(p: SaeParams, x: Float32Array, y: Float32Array, batch = false): number {
  const recon = Array.from({ length: B }, (_, b) => Array.from({ length: w }, (_, c) => p.b_dec[c]!));
  for (let l = 0; l < S; l++) {
    const pre = Array.from({ length: B }, (_, b) => Array.from({ length: m }, (_, j) => {
      let s = p.b_enc[l * m + j]!;
      for (let c = 0; c < dm; c++) s += x[b * w + l * dm + c]! * p.W_enc[(l * m + j) * dm + c]!;
      return s;
    }));
    const entries = pre.flatMap((row, b) => row.map((v, j) => [v, b, j] as const));
    const byRow = (b: number) => entries.filter((e) => e[1] === b).sort((a, c) => c[0] - a[0] || a[2] - c[2]).slice(0, k);
    const kept = batch ? [...entries].sort((a, c) => c[0] - a[0]).slice(0, B * k) : Array.from({ length: B }, (_, b) => byRow(b)).flat();
    for (const [v, b, j] of kept) {
      if (!(v > 0)) continue;
      const i = l * m + j;
      for (let t = l; t < S; t++) for (let c = 0; c < dm; c++) recon[b]![t * dm + c]! += v * p.W_dec[i * w + t * dm + c]!;
    }
  }
  let loss = 0;
  for (let t = 0; t < S; t++) {
    let sse = 0, tv = 0;
    for (let c = t * dm; c < (t + 1) * dm; c++) {
      let mean = 0;
      for (let b = 0; b < B; b++) mean += y[b * w + c]! / B;
      for (let b = 0; b < B; b++) { sse += (recon[b]![c]! - y[b * w + c]!) ** 2; tv += (y[b * w + c]! - mean) ** 2; }
    }
    loss += sse / tv;
  }
  return loss;
}

const backends: [string, Backend | null][] = [['reference', referenceBackend], ['native', nativeOrSkip()]];

describe('cross-layer transcoder backward', () => {
  for (const [name, be] of backends) {
    it.skipIf(!be)(`equals finite differences of the float64 loss (${name} backend), masked blocks included`, () => {
      const rng = new Rng(11);
      const p = params(rng), x = rng.normals(B * w), y = rng.normals(B * w, 0.7);
      const grads: SaeParams = { W_enc: new Float32Array(n * dm), b_enc: new Float32Array(n), W_dec: new Float32Array(n * w), b_dec: new Float32Array(w) };
      const r = cltForwardBackward(be!, p, x, y, B, k, g, grads);
      expect(r.loss).toBeCloseTo(loss64(p, x, y), 5);
      expect(r.layerFvu).toHaveLength(S);
      // k per layer: L0 is at most S·k, and every group contributes
      expect(r.l0).toBeGreaterThan(k);
      expect(r.l0).toBeLessThanOrEqual(S * k);
      // the decoder blocks before a latent's layer get no gradient (they stay zero in training)
      for (let i = 0; i < n; i++) for (let e = 0; e < Math.floor(i / m) * dm; e++) expect(grads.W_dec[i * w + e]).toBe(0);
      checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], () => loss64(p, x, y));
    });

    it.skipIf(!be)(`with each layer's batch top k, equals finite differences too (${name} backend); rows get uneven codes`, () => {
      const rng = new Rng(12);
      const p = params(rng), x = rng.normals(B * w), y = rng.normals(B * w, 0.7);
      const grads: SaeParams = { W_enc: new Float32Array(n * dm), b_enc: new Float32Array(n), W_dec: new Float32Array(n * w), b_dec: new Float32Array(w) };
      const r = cltForwardBackward(be!, p, x, y, B, k, g, grads, 'batch');
      expect(r.loss).toBeCloseTo(loss64(p, x, y, true), 5);
      expect(r.loss).not.toBeCloseTo(loss64(p, x, y), 3);
      const perRow = Array.from({ length: B }, (_, b) => r.z.rowPtr[b + 1]! - r.z.rowPtr[b]!);
      expect(new Set(perRow).size).toBeGreaterThan(1);
      expect(r.minKept.every((v) => v > 0)).toBe(true);
      checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], () => loss64(p, x, y, true));
    });
  }

  it('AuxK: the dead latents\' reconstruction of the residual, each layer\'s top k_aux, by finite differences (the residual held, as detached)', () => {
    const rng = new Rng(14), kA = 2, alpha = 0.5;
    const p = params(rng), x = rng.normals(B * w), y = rng.normals(B * w, 0.7);
    const dead = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 1 : 0));
    const be = referenceBackend;
    // the residual at the base parameters, held fixed in the auxiliary term
    const base = cltForwardBackward(be, p, x, y, B, k, g, null);
    const recon0: number[][] = [];
    {
      // ŷ from the definition at the base parameters
      for (let b = 0; b < B; b++) recon0.push(Array.from({ length: w }, (_, c) => p.b_dec[c]!));
      for (let l = 0; l < S; l++) for (let b = 0; b < B; b++) {
        const pre = Array.from({ length: m }, (_, j) => { let s2 = p.b_enc[l * m + j]!; for (let c = 0; c < dm; c++) s2 += x[b * w + l * dm + c]! * p.W_enc[(l * m + j) * dm + c]!; return [s2, j] as const; });
        for (const [v, j] of [...pre].sort((a, c) => c[0] - a[0] || a[1] - c[1]).slice(0, k)) if (v > 0) for (let c = l * dm; c < w; c++) recon0[b]![c]! += v * p.W_dec[(l * m + j) * w + c]!;
      }
    }
    const e0 = Array.from({ length: B }, (_, b) => Array.from({ length: w }, (_, c) => y[b * w + c]! - recon0[b]![c]!));
    const auxTerm = (): number => {
      const eHat = Array.from({ length: B }, () => new Array<number>(w).fill(0));
      for (let l = 0; l < S; l++) for (let b = 0; b < B; b++) {
        const pre: [number, number][] = [];
        for (let j = 0; j < m; j++) {
          if (!dead[l * m + j]) continue;
          let s2 = p.b_enc[l * m + j]!;
          for (let c = 0; c < dm; c++) s2 += x[b * w + l * dm + c]! * p.W_enc[(l * m + j) * dm + c]!;
          pre.push([s2, j]);
        }
        for (const [v, j] of pre.sort((a, c) => c[0] - a[0] || a[1] - c[1]).slice(0, kA)) if (v > 0) for (let c = l * dm; c < w; c++) eHat[b]![c]! += v * p.W_dec[(l * m + j) * w + c]!;
      }
      let total = 0;
      for (let t = 0; t < S; t++) {
        let sse = 0, v = 0;
        for (let c = t * dm; c < (t + 1) * dm; c++) {
          let mean = 0;
          for (let b = 0; b < B; b++) mean += e0[b]![c]! / B;
          for (let b = 0; b < B; b++) { sse += (eHat[b]![c]! - e0[b]![c]!) ** 2; v += (e0[b]![c]! - mean) ** 2; }
        }
        total += sse / v;
      }
      return total;
    };
    const grads: SaeParams = { W_enc: new Float32Array(n * dm), b_enc: new Float32Array(n), W_dec: new Float32Array(n * w), b_dec: new Float32Array(w) };
    const r = cltForwardBackward(be, p, x, y, B, k, g, grads, 'row', { dead, k: kA, alpha });
    expect(r.auxLoss).toBeGreaterThan(0);
    expect(r.auxLoss).toBeCloseTo(auxTerm(), 5);
    expect(r.loss).toBeCloseTo(base.loss + alpha * r.auxLoss, 5);
    checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], () => loss64(p, x, y) + alpha * auxTerm());
    // the same auxiliary term beside each layer's batch top k (whose pre-activations hold b_enc
    // already), the residual then the batch code's
    const baseB = cltForwardBackward(be, p, x, y, B, k, g, null, 'batch');
    const gB: SaeParams = { W_enc: new Float32Array(n * dm), b_enc: new Float32Array(n), W_dec: new Float32Array(n * w), b_dec: new Float32Array(w) };
    const rB = cltForwardBackward(be, p, x, y, B, k, g, gB, 'batch', { dead, k: kA, alpha });
    expect(rB.loss - baseB.loss).toBeCloseTo(alpha * rB.auxLoss, 6);
    expect(rB.auxLoss).not.toBeCloseTo(r.auxLoss, 3);
    // nothing dead: no auxiliary term
    expect(cltForwardBackward(be, p, x, y, B, k, g, null, 'row', { dead: new Uint8Array(n), k: kA, alpha }).auxLoss).toBe(0);
  });

  it('JumpReLU: weights by finite differences (the active set fixed under small steps), thresholds by the straight-through formula', () => {
    const rng = new Rng(13), lambda = 0.05, eps = 0.4;
    const p = { ...params(rng), threshold: Float32Array.from({ length: n }, () => 0.1 + 0.5 * rng.uniform()) };
    const x = rng.normals(B * w), y = rng.normals(B * w, 0.7);
    // from the definition: z = pre·H(pre − θ), each layer's FVU summed, plus λ·L0
    const pre64 = (b: number, i: number): number => {
      const l = Math.floor(i / m);
      let s2 = p.b_enc[i]!;
      for (let c = 0; c < dm; c++) s2 += x[b * w + l * dm + c]! * p.W_enc[i * dm + c]!;
      return s2;
    };
    const recon64 = (): number[][] => Array.from({ length: B }, (_, b) => {
      const r = Array.from({ length: w }, (_, c) => p.b_dec[c]!);
      for (let i = 0; i < n; i++) {
        const v = pre64(b, i);
        if (v > p.threshold[i]!) for (let c = Math.floor(i / m) * dm; c < w; c++) r[c]! += v * p.W_dec[i * w + c]!;
      }
      return r;
    });
    const tv = Array.from({ length: S }, (_, t) => {
      let s2 = 0;
      for (let c = t * dm; c < (t + 1) * dm; c++) {
        let mean = 0;
        for (let b = 0; b < B; b++) mean += y[b * w + c]! / B;
        for (let b = 0; b < B; b++) s2 += (y[b * w + c]! - mean) ** 2;
      }
      return s2;
    });
    const loss = (): number => {
      const r = recon64();
      let l0 = 0, sum = 0;
      for (let b = 0; b < B; b++) for (let i = 0; i < n; i++) if (pre64(b, i) > p.threshold[i]!) l0++;
      for (let b = 0; b < B; b++) for (let c = 0; c < w; c++) sum += (r[b]![c]! - y[b * w + c]!) ** 2 / tv[Math.floor(c / dm)]!;
      return sum + (lambda * l0) / B;
    };
    const be = referenceBackend;
    const grads: SaeParams = { W_enc: new Float32Array(n * dm), b_enc: new Float32Array(n), W_dec: new Float32Array(n * w), b_dec: new Float32Array(w), threshold: new Float32Array(n) };
    const r = cltForwardBackward(be, p, x, y, B, k, g, grads, { lambda, eps });
    expect(r.loss).toBeCloseTo(loss(), 5);
    expect(r.windowEntries).toBeGreaterThan(0);
    checkFd(p, grads, ['W_enc', 'b_enc', 'W_dec', 'b_dec'], loss);
    // ∂L/∂θ_i = −(1/ε)·Σ_{|pre − θ| < ε/2} (θ_i·∂L/∂z_bi + λ/B), ∂L/∂z_bi from the definition
    const rec = recon64();
    for (let i = 0; i < n; i++) {
      let want = 0;
      for (let b = 0; b < B; b++) {
        if (!(Math.abs(pre64(b, i) - p.threshold[i]!) < eps / 2)) continue;
        let dz = 0;
        for (let c = Math.floor(i / m) * dm; c < w; c++) dz += (2 * (rec[b]![c]! - y[b * w + c]!) / tv[Math.floor(c / dm)]!) * p.W_dec[i * w + c]!;
        want += p.threshold[i]! * dz + lambda / B;
      }
      expect(grads.threshold![i]).toBeCloseTo(-want / eps, 4);
    }
  });

  it('refuses a width or latent count that does not split into the layers, naming the flag', () => {
    expect(() => cltDims(10, 6, 3)).toThrow(/d=10 is not 3 layers side by side \(--clt-layers 3\)/);
    expect(() => cltDims(12, 7, 3)).toThrow(/--latents 7 does not split into 3 equal groups/);
  });
});

const stories = sharedPath('models/stories260K/stories260K.bin');
const shakespeare = sharedPath('corpus/tinyshakespeare.txt');
const spec = (layer: number, more = '') => `lm:model=${stories},corpus=${shakespeare},layer=${layer},site=mlp_in,targetSite=mlp_out,ctx=64,batch=16${more}`;

describe.skipIf(!stories || !shakespeare)('cross-layer transcoder on stories260K', () => {
  const be = getBackend();

  it('stack=1 rows hold every layer from `layer` on side by side, each block that layer\'s own row', async () => {
    const rows = 600, d = 64;
    const stacked = await openLmSource(parseLmSpec(spec(2, ',stack=1,tokens=600')), be);
    expect([stacked.d, stacked.dOut]).toEqual([3 * d, 3 * d]);
    const x = new Float32Array(rows * 3 * d), y = new Float32Array(rows * 3 * d);
    expect(stacked.read(x, rows, y)).toBe(rows);
    for (const l of [2, 3, 4]) {
      const own = await openLmSource(parseLmSpec(spec(l, ',tokens=600')), be);
      const xl = new Float32Array(rows * d), yl = new Float32Array(rows * d);
      own.read(xl, rows, yl);
      for (let r = 0; r < rows; r += 37) {
        expect(Array.from(x.subarray(r * 3 * d + (l - 2) * d, r * 3 * d + (l - 1) * d))).toEqual(Array.from(xl.subarray(r * d, (r + 1) * d)));
        expect(Array.from(y.subarray(r * 3 * d + (l - 2) * d, r * 3 * d + (l - 1) * d))).toEqual(Array.from(yl.subarray(r * d, (r + 1) * d)));
      }
    }
  }, 60_000);

  it('spliced into the model, a CLT whose latents write only to their own layer is the per-layer transcoders spliced together', async () => {
    const list = [0, 1, 2, 3, 4].map((l) => transcoder(l + 51, 48, 4));
    const lm = await openLmSource(parseLmSpec(spec(0, ',stack=1')), be);
    const clt = downstreamEval(be, cltOf(list, 0), lm, 8);
    const per = downstreamEval(be, list.map((sae, l) => ({ sae, layer: l, site: 'mlp_in' as const, target: 'mlp_out' as const })), lm, 8);
    expect(clt.sites.map((s) => s.layer)).toEqual([0, 1, 2, 3, 4]);
    expect(clt.ce_spliced).toBeCloseTo(per.ce_spliced, 4);
    expect(clt.kl_spliced).toBeCloseTo(per.kl_spliced, 4);
    clt.sites.forEach((s, l) => expect(s.fvu).toBeCloseTo(per.sites[l]!.fvu, 4));
    // and writing forward changes what the later layers get
    const forward = downstreamEval(be, cltOf(list, 0.05), lm, 8);
    expect(Math.abs(forward.ce_spliced - per.ce_spliced)).toBeGreaterThan(1e-3);
    expect(forward.sites[0]!.fvu).toBeCloseTo(per.sites[0]!.fvu, 4);
  }, 60_000);

  it('the viewer\'s live text reads every layer the CLT spans; steering a latent adds its writes to every MLP output it writes to', async () => {
    const sae = cltOf([0, 1, 2, 3, 4].map((l) => transcoder(l + 61, 48, 4)), 0.2);
    sae.cfg.data = spec(0, ',stack=1');
    const live = await openLive(be, sae, { model: stories!, layer: 0, site: 'mlp_in' });
    expect(live.describe).toMatch(/layers 0\.\.4 mlp_in/);
    const text = 'Once upon a time there was a dog';
    // the same rows read independently: each layer's mlp_in side by side
    const { model, tokenizer } = await loadLm(stories!, be);
    const ids = Int32Array.from([tokenizer.bos, ...tokenizer.encode(text)]), T = ids.length;
    const rows = new Float32Array(T * 320);
    model.forward(ids, 1, { hook: (l, site, x) => { if (site === 'mlp_in') for (let r = 0; r < T; r++) rows.set(x.subarray(r * 64, (r + 1) * 64), r * 320 + l * 64); } });
    const { z } = encode(be, sae, rows, T);
    const latent = z.idx[z.rowPtr[3]!]!;
    const got = live.text(text, latent);
    expect(got.tokens).toHaveLength(T - 1);
    for (let r = 1; r < T; r++) {
      let want = 0;
      for (let e = z.rowPtr[r]!; e < z.rowPtr[r + 1]!; e++) if (z.idx[e] === latent) want = z.vals[e]!;
      expect(got.latent![r - 1]).toBeCloseTo(want, 5);
    }
    const st = live.steer('Once upon a time', latent, 40, 8);
    expect(st.steered).not.toBe(st.plain);
  }, 60_000);

  it('saekit train --arch clt --clt-select batch trains on stack=1 data; the decoder stays zero before each latent\'s layer; thresholds per layer; export writes circuit-tracer\'s layout', () => {
    const out = mkdtempSync(join(tmpdir(), 'saekit-clt-')), ct = join(out, 'circuit-tracer');
    const r = runCli(['train', '--data', spec(0, ',stack=1'), '--arch', 'clt', '--clt-layers', '5', '--clt-select', 'batch', '--transcode', '--latents', '320', '--k', '4',
      '--tokens', '8192', '--batch', '1024', '--eval-tokens', '2048', '--shuffle', '2048', '--log-every', '2', '--out', join(out, 'run')]);
    expect(r.status, r.stderr).toBe(0);
    const metrics = readFileSync(join(out, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // k = 4 per layer, chosen over the batch: at most 20 per token on average (entries that are
    // not positive are dropped); every layer's smallest kept activation logged for its threshold
    expect(metrics.at(-1).l0).toBeLessThanOrEqual(20);
    expect(metrics.at(-1).l0).toBeGreaterThan(15);
    expect(Object.keys(metrics[0]).filter((k) => k.startsWith('min_kept_'))).toHaveLength(5);
    expect(metrics.at(-1).fvu).toBeLessThan(metrics[0].fvu);
    expect(Object.keys(metrics[0]).filter((k) => k.startsWith('fvu_layer_'))).toHaveLength(5);
    const sae = loadSae(join(out, 'run'));
    expect([sae.cfg.arch, sae.cfg.layers, sae.cfg.selection, sae.cfg.d, sae.params.W_enc.length]).toEqual(['clt', 5, 'batch', 320, 320 * 64]);
    const w = 320, m = 64;
    // one inference threshold per layer, positive; held out they code every token (after 8
    // steps they trail the encoder: L0 5.7 here; 26 against the trained 20 after 64 steps)
    for (let l = 0; l < 5; l++) {
      const t = sae.params.threshold!.subarray(l * m, (l + 1) * m);
      expect(t[0]).toBeGreaterThan(0);
      expect(t.every((v) => v === t[0])).toBe(true);
    }
    const held = JSON.parse(readFileSync(join(out, 'run', 'eval.json'), 'utf8'));
    expect(held.l0).toBeGreaterThan(2);
    expect(held.l0).toBeLessThan(60);
    expect(held.fvu_layers).toHaveLength(5);
    for (let i = 0; i < 320; i++) {
      const l = Math.floor(i / m);
      expect(sae.params.W_dec.subarray(i * w, i * w + l * 64).every((v) => v === 0)).toBe(true);
      if (l < 4) expect(sae.params.W_dec.subarray(i * w + (l + 1) * 64, (i + 1) * w).some((v) => v !== 0)).toBe(true);
    }
    const e = runCli(['export', join(out, 'run'), '--format', 'circuit-tracer', '--out', ct]);
    expect(e.status, e.stderr).toBe(0);
    expect(readFileSync(join(ct, 'config.yaml'), 'utf8')).toMatch(/model_kind: cross_layer_transcoder\nfeature_input_hook: ln2.hook_normalized\nfeature_output_hook: hook_mlp_out/);
    const dec = SafetensorsFile.open(join(ct, 'W_dec_3.safetensors'));
    expect(dec.info('W_dec_3').shape).toEqual([m, 2, 64]);
    // latent 7 of layer 3 to layer 4: its row's last block
    const got = dec.readF32('W_dec_3', 7, 1).subarray(64, 128);
    expect(Array.from(got)).toEqual(Array.from(sae.params.W_dec.subarray((3 * m + 7) * w + 4 * 64, (3 * m + 8) * w)));
    const enc = SafetensorsFile.open(join(ct, 'W_enc_1.safetensors'));
    expect(enc.info('W_enc_1').shape).toEqual([m, 64]);
    // the thresholds go with it: circuit-tracer's JumpReLU is this CLT's inference
    expect(Array.from(enc.readF32('threshold_1', 0, m))).toEqual(Array.from(sae.params.threshold!.subarray(m, 2 * m)));
    expect(Array.from(enc.readF32('b_dec_1', 0, 64))).toEqual(Array.from(sae.params.b_dec.subarray(64, 128)));
    // a per-layer SAE is refused by name
    const bad = runCli(['train', '--data', spec(0), '--arch', 'clt', '--clt-layers', '5', '--transcode', '--latents', '320', '--k', '4', '--tokens', '2048', '--batch', '1024', '--out', join(out, 'bad')]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/d=64 is not 5 layers side by side \(--clt-layers 5\)/);
  }, 120_000);

  it('a JumpReLU CLT stopped after a checkpoint resumes to the bits of an uninterrupted run (thresholds, λ and their placement kept)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'saekit-clt-resume-'));
    const args = ['train', '--data', spec(0, ',stack=1'), '--arch', 'clt', '--clt-layers', '5', '--clt-select', 'jumprelu', '--target-l0', '20', '--transcode',
      '--latents', '160', '--k', '4', '--tokens', '12288', '--batch', '512', '--eval-tokens', '1024', '--shuffle', '2048', '--checkpoint-every', '2048'];
    const whole = runCli([...args, '--out', join(dir, 'whole')]);
    expect(whole.status, whole.stderr).toBe(0);
    const stopped = join(dir, 'stopped'), ck = join(stopped, 'checkpoints');
    expect(await interruptAfterCheckpoint([...args, '--out', stopped], ck, 60_000)).toBe(130);
    expect(existsSync(join(stopped, 'sae.safetensors')), 'the run finished before it was stopped').toBe(false);
    const resumed = runCli([...args, '--out', stopped, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(readFileSync(join(stopped, 'sae.safetensors')).equals(readFileSync(join(dir, 'whole', 'sae.safetensors')))).toBe(true);
    expect(loadSae(stopped).cfg.selection).toBe('jumprelu');
  }, 120_000);
});
