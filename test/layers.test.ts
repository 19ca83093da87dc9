// Every layer in one pass (--layers): one model forward per batch of contexts feeds every
// layer's run; each layer's run is the run that layer would get alone (same rows, same bits),
// with its own folder, checkpoints and resume. Needs ../shared (stories260K, tinyshakespeare).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { openLmSource, openSharedLm, parseLmSpec } from '../src/data/lm.js';
import { sharedPath } from './helpers.js';

const root = join(import.meta.dirname, '..');
const cli = ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts')];
const run = (args: string[]) => spawnSync(process.execPath, [...cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-layers-'));
const stories = sharedPath('models/stories260K/stories260K.bin');
const shakespeare = sharedPath('corpus/tinyshakespeare.txt');
const spec = (layer: number) => `lm:model=${stories},corpus=${shakespeare},layer=${layer},site=mlp_in,targetSite=mlp_out,ctx=64,batch=16`;

describe.skipIf(!stories || !shakespeare)('--layers', () => {
  it('readers of several layers share one forward per batch of contexts and read what each layer\'s own reader reads', async () => {
    const be = getBackend();
    const s = parseLmSpec(spec(0) + ',tokens=6000');
    const lm = await openSharedLm(s, be, [0, 2, 4]);
    const readers = [0, 2, 4].map((l) => lm.open(l));
    const rows = 700, d = 64;
    const got = readers.map(() => ({ x: new Float32Array(6000 * d), y: new Float32Array(6000 * d), n: 0 }));
    // interleaved, unevenly, as runs stepping side by side do
    for (let step = 0; got.some((g) => g.n < 6000); step++) {
      readers.forEach((r, i) => {
        const g = got[i]!, want = Math.min(rows + 37 * i, 6000 - g.n);
        g.n += r.read(g.x.subarray(g.n * d), want, g.y.subarray(g.n * d));
      });
    }
    // one forward per 16 contexts, not one per layer
    expect(lm.shared.forwards).toBe(Math.ceil(readers[0]!.contexts.count / 16));
    expect(readers[0]!.contexts.count).toBeGreaterThan(6000 / 63);
    for (const [i, layer] of [0, 2, 4].entries()) {
      const own = await openLmSource(parseLmSpec(spec(layer) + ',tokens=6000'), be);
      const x = new Float32Array(6000 * d), y = new Float32Array(6000 * d);
      expect(own.read(x, 6000, y)).toBe(6000);
      expect(Buffer.from(got[i]!.x.buffer).equals(Buffer.from(x.buffer)), `layer ${layer} inputs`).toBe(true);
      expect(Buffer.from(got[i]!.y.buffer).equals(Buffer.from(y.buffer)), `layer ${layer} targets`).toBe(true);
    }
    // layers 0 and 4 differ (a reader is of its own layer)
    expect(Buffer.from(got[0]!.x.buffer).equals(Buffer.from(got[2]!.x.buffer))).toBe(false);
  }, 120_000);

  it('saekit train --layers trains every layer in its own folder, each as that layer alone; a stopped job resumes to the same bits', async () => {
    const dir = tmp(), alone = tmp(), stopped = tmp();
    const args = ['--transcode', '--latents', '128', '--k', '8', '--tokens', '20480', '--batch', '1024', '--eval-tokens', '2048', '--checkpoint-every', '4096', '--shuffle', '8192'];
    const all = run(['train', '--data', spec(0), '--layers', 'all', ...args, '--out', dir]);
    expect(all.status, all.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['layer-0', 'layer-1', 'layer-2', 'layer-3', 'layer-4']);
    for (let l = 0; l < 5; l++) {
      expect(all.stdout).toMatch(new RegExp(`layer ${l}: 20 steps, 20480 tokens`));
      const cfg = JSON.parse(readFileSync(join(dir, `layer-${l}`, 'cfg.json'), 'utf8'));
      expect(cfg.data).toMatch(new RegExp(`layer=${l},site=mlp_in,targetSite=mlp_out`));
      expect(cfg.d_out).toBe(64);
      expect(Number.isFinite(JSON.parse(readFileSync(join(dir, `layer-${l}`, 'eval.json'), 'utf8')).fvu)).toBe(true);
    }
    // layer 3 trained alone: the same rows in the same order, so the same bits
    const one = run(['train', '--data', spec(3), ...args, '--out', alone]);
    expect(one.status, one.stderr).toBe(0);
    expect(readFileSync(join(alone, 'sae.safetensors')).equals(readFileSync(join(dir, 'layer-3', 'sae.safetensors')))).toBe(true);
    // stopped with SIGINT after checkpoints were written, then --resume
    const job = spawn(process.execPath, [...cli, 'train', '--data', spec(0), '--layers', '1,3', ...args, '--out', stopped], { cwd: root, stdio: 'ignore', env: { ...process.env, CI: 'true' } });
    const exited = new Promise<number | null>((r) => job.once('exit', (code) => r(code)));
    const ck = join(stopped, 'layer-3', 'checkpoints');
    for (const until = Date.now() + 120_000; Date.now() < until && !(existsSync(ck) && readdirSync(ck).some((d) => /^step-\d+$/.test(d)));) await new Promise((r) => setTimeout(r, 20));
    job.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(existsSync(join(stopped, 'layer-3', 'sae.safetensors')), 'the job finished before it was stopped').toBe(false);
    const resumed = run(['train', '--data', spec(0), '--layers', '1,3', ...args, '--out', stopped, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    for (const l of [1, 3]) expect(readFileSync(join(stopped, `layer-${l}`, 'sae.safetensors')).equals(readFileSync(join(dir, `layer-${l}`, 'sae.safetensors'))), `layer ${l}`).toBe(true);
    const bad = run(['train', '--data', 'synthetic:d=8', '--layers', 'all', '--out', join(tmp(), 'x')]);
    expect(bad.stderr).toMatch(/--layers trains on a live model's layers: --data must be lm:/);
    const bad2 = run(['train', '--data', spec(0), '--layers', '0,7', '--out', join(tmp(), 'x')]);
    expect(bad2.stderr).toMatch(/layer 7 does not exist: .* has layers 0\.\.4/);
  }, 600_000);
});
