// Training end to end: recovery of synthetic ground truth, exact resume, metrics and outputs.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { SyntheticSource } from '../src/data/synthetic.js';
import { evaluateSae } from '../src/eval/metrics.js';
import { loadSae } from '../src/sae/folder.js';
import { parseTrainConfig } from '../src/train/config.js';
import { train, TrainingDiverged } from '../src/train/trainer.js';

const be = getBackend();
const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-train-'));
const small = { data: 'synthetic:d=32,features=128,active=4,seed=1', latents: 256, k: 4, batch: 1024 };

describe('training', () => {
  it('recovers the true features of the synthetic source (MMCS >= 0.95) and writes the run folder', async () => {
    const out = tmp();
    const res = await train(be, parseTrainConfig({ ...small, tokens: 1_500_000 }), { out });
    expect(res.finished).toBe(true);
    const heldOut = new SyntheticSource({ d: 32, features: 128, active: 4, seed: 1, stream: 1 }, be);
    const ev = evaluateSae(be, res.sae, heldOut, 32768);
    expect(ev.mmcs!).toBeGreaterThanOrEqual(0.95);
    // (L0 <= k holds by construction; that the k kept entries are mostly positive does not)
    expect(ev.l0).toBeGreaterThan(3);
    expect(ev.fvu).toBeLessThan(0.3);
    // the saved SAE is the trained one, with unit decoder rows
    const saved = loadSae(out);
    expect(saved.cfg).toMatchObject({ arch: 'topk', d: 32, n: 256, k: 4 });
    expect(Array.from(saved.params.W_dec.subarray(0, 8))).toEqual(Array.from(res.sae.params.W_dec.subarray(0, 8)));
    const norms = be.rowNorms(saved.params.W_dec, 256, 32);
    for (const v of norms) expect(Math.abs(v - 1)).toBeLessThan(1e-5);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1).tokens).toBe(1_500_000);
    expect(lines[0].fvu).toBeGreaterThan(lines.at(-1).fvu);
    for (const key of ['step', 'tokens', 'loss', 'fvu', 'l0', 'dead_fraction', 'aux_loss', 'lr', 'tokens_per_s']) expect(lines[0]).toHaveProperty(key);
  });

  it('a run stopped at a checkpoint and resumed ends with the same bits as an uninterrupted one', async () => {
    const cfg = parseTrainConfig({ ...small, tokens: 60 * 1024, multiTopK: true, kAux: 8, deadTokens: 4096, shuffle: 3000, logEvery: 5, normalize: true });
    const whole = tmp(), parts = tmp();
    await train(be, cfg, { out: whole });
    const first = await train(be, cfg, { out: parts, stopAfterSteps: 23 });
    expect(first.finished).toBe(false);
    expect(existsSync(join(parts, 'sae.safetensors'))).toBe(false);
    const second = await train(be, cfg, { out: parts, resume: true, stopAfterSteps: 17 });
    expect(second.finished).toBe(false);
    const done = await train(be, cfg, { out: parts, resume: true });
    expect(done.finished).toBe(true);
    expect(readFileSync(join(parts, 'sae.safetensors')).equals(readFileSync(join(whole, 'sae.safetensors')))).toBe(true);
    const strip = (p: string): unknown[] => readFileSync(join(p, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => ({ ...JSON.parse(l), tokens_per_s: 0 }));
    expect(strip(parts)).toEqual(strip(whole));
  });

  it('--normalize trains in a unit-scale space and saves an SAE that acts on the raw activations', async () => {
    const raw = { d: 32, features: 128, active: 4, seed: 1, minMag: 50, maxMag: 150, noise: 1 };
    const spec = `synthetic:${Object.entries(raw).map(([k, v]) => `${k}=${v}`).join(',')}`;
    const out = tmp();
    const res = await train(be, parseTrainConfig({ ...small, data: spec, tokens: 1_500_000, normalize: true }), { out });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    // E||x||² ≈ active · E[mag²] ≈ 4 · 10,833 → scale ≈ sqrt(32 / 43,333) ≈ 0.027
    expect(cfg.resolved.input_scale).toBeGreaterThan(0.02);
    expect(cfg.resolved.input_scale).toBeLessThan(0.035);
    const ev = evaluateSae(be, loadSae(out), new SyntheticSource({ ...raw, stream: 1 }, be), 32768);
    expect(ev.mmcs!).toBeGreaterThanOrEqual(0.95);
    expect(ev.fvu).toBeLessThan(0.3);
    // the folded biases are in raw units: b_dec near the data's scale, not the unit scale
    expect(Math.max(...Array.from(res.sae.params.b_dec, Math.abs))).toBeGreaterThan(1);
  });

  it('refuses to overwrite a run without --resume', async () => {
    const out = tmp();
    await train(be, parseTrainConfig({ ...small, tokens: 2048 }), { out });
    await expect(train(be, parseTrainConfig({ ...small, tokens: 2048 }), { out })).rejects.toThrow(/already exists and is not empty: pass --resume/);
  });

  it.each([
    [{ k: 300 }, /"k": k must be <= latents/],
    [{ tokens: -5 }, /"tokens": .*>0|"tokens": Too small/],
    [{ latents: 1.5 }, /"latents"/],
    [{ shuffle: 'sometimes' }, /"shuffle"/],
    [{ bogus: 1 }, /Unrecognized key|bogus/],
  ])('rejects an impossible config %o', (patch, message) => {
    expect(() => parseTrainConfig({ ...small, tokens: 4096, ...patch })).toThrow(message);
  });
});

describe('divergence', () => {
  it('stops with a TrainingDiverged error (a sweep can tell it from a failure) naming the step and the --lr hint', async () => {
    const run = train(be, parseTrainConfig({ ...small, tokens: 100_000, lr: 10 }), { out: tmp() });
    await expect(run).rejects.toBeInstanceOf(TrainingDiverged);
    await expect(run).rejects.toThrow(/training diverged at step \d+: .*try a lower --lr/);
  });
});
