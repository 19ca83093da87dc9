// The experiment machinery end to end at the tiny scale (a smoke test; the results at
// small scale are in EXPERIMENTS.md).
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { architecturesExperiment } from '../src/experiments/architectures.js';
import { circlesExperiment } from '../src/experiments/circles.js';
import { initExperiment } from '../src/experiments/init.js';
import { progressiveExperiment } from '../src/experiments/progressive.js';
import { scalesExperiment } from '../src/experiments/scales.js';
import { scalingExperiment } from '../src/experiments/scaling.js';
import { readFits, recipeFor } from '../src/train/recipe.js';
import { shuffleExperiment } from '../src/experiments/shuffle.js';
import { ShardWriter } from '../src/data/shards.js';
import { SyntheticSource } from '../src/data/synthetic.js';

const be = getBackend();
const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-exp-'));

describe('experiments (tiny scale)', () => {
  it('progressive: one row per k\', and a rerun reuses the trained runs', async () => {
    const out = tmp();
    const report = await progressiveExperiment(be, 'tiny', out);
    expect(report.split('\n').filter((l) => /^\| \d+ \| /.test(l)).map((l) => l.split('|')[1]!.trim())).toEqual(['1', '2', '4', '8', '16']);
    expect(existsSync(join(out, 'progressive.svg'))).toBe(true);
    expect(await progressiveExperiment(be, 'tiny', out)).toBe(report);
  });

  it('init and shuffle write their reports and plots', async () => {
    const a = tmp(), b = tmp();
    expect(await initExperiment(be, 'tiny', a)).toMatch(/\| random \| 4 \| /);
    expect(existsSync(join(a, 'dead.svg'))).toBe(true);
    expect(await shuffleExperiment(be, 'tiny', b)).toMatch(/\| none \| [\d.]+ \| /);
    expect(existsSync(join(b, 'shuffle.svg'))).toBe(true);
  });

  it('circles: a row per architecture with the per-circle measures, and the two plots', async () => {
    const out = tmp();
    const report = await circlesExperiment(be, 'tiny', out);
    const rows = report.split('\n').filter((l) => /^\| (topk|batchtopk|jumprelu) \| /.test(l));
    expect(rows.map((l) => l.split('|')[1]!.trim())).toEqual(['topk', 'batchtopk', 'jumprelu']);
    for (const l of rows) expect(l).toMatch(/\| \d+ of 2 \|$/);
    expect(existsSync(join(out, 'circles-fvu.svg')) && existsSync(join(out, 'circles-latents.svg'))).toBe(true);
  });

  it('scaling: the loss table, the fits with bootstrap intervals, fits.json for the recipe', async () => {
    const out = tmp();
    const report = await scalingExperiment(be, 'tiny', out);
    expect(report).toMatch(/\| 32 \| [\d.]+ \| [\d.]+ \| /);
    expect(report).toMatch(/Best lr ≈ .*·N\^-?[\d.]+/);
    const fits = readFits(join(out, 'fits.json'));
    expect(fits.latents).toEqual([32, 64]);
    expect(recipeFor(48, { fits, k: 4 }).tokens).toBeGreaterThan(0);
  });

  it('scales classifies, scores, inserts and stitches', async () => {
    const out = tmp();
    const report = await scalesExperiment(be, 'tiny', out);
    for (const row of ['| split |', '| discovered |', '| stitched: both |', '| large (n=64) |']) expect(report).toContain(row);
    expect(existsSync(join(out, 'stitched-both', 'sae.safetensors'))).toBe(true);
  });

  it('architectures: every architecture in every regime (real activations too), the matched-L0 table and the threshold-gradient variance ratio', async () => {
    const out = tmp();
    // a shard folder standing in for real activations: 20,480 rows of other synthetic data
    const real = join(tmp(), 'acts'), w = new ShardWriter(real, { d: 16, shardTokens: 8192 });
    const src = new SyntheticSource({ d: 16, features: 48, active: 3, seed: 9, magMean: 1 }, be), x = new Float32Array(20480 * 16);
    src.read(x, 20480);
    w.write(x, 20480);
    w.close();
    const report = await architecturesExperiment(be, 'tiny', out, { real });
    const sections = report.split('\n## ').slice(1);
    expect(sections.map((t) => t.split(':')[0])).toEqual(['low interference', 'high interference', 'real activations']);
    for (const section of sections) for (const arch of ['topk', 'batchtopk', 'matryoshka', 'jumprelu', 'relu']) expect(section).toContain(`| ${arch} | `);
    // the real regime trains on the first 16,384 rows and names the rows it validated and held out
    expect(sections[2]).toContain(`\`${real}#0:16384\``);
    expect(sections[2]).toContain(`held-out rows 18432:20480 of ${real}`);
    const ratio = Number(/variance\(per batch\) = (\d+\.\d+)/.exec(report)![1]);
    // an exponential average of independent batch estimates has (1 − β)/(1 + β) of their variance
    expect(ratio).toBeGreaterThan(0);
    expect(ratio).toBeLessThan(0.1);
    expect(existsSync(join(out, 'frontier.svg'))).toBe(true);
  });
});
