// Every layer in one pass (--layers): one model forward per batch of contexts feeds every
// layer's run; each layer's run is the run that layer would get alone (same rows, same bits),
// with its own folder, checkpoints and resume. Needs ../shared (stories260K, tinyshakespeare).
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { openLmSource, openSharedLm, parseLmSpec } from '../src/data/lm.js';
import { downstreamEval } from '../src/eval/downstream.js';
import { encode } from '../src/sae/encode.js';
import { loadSae } from '../src/sae/folder.js';
import type { Sae } from '../src/sae/common.js';
import { Rng } from '../src/util/rng.js';
import { interruptAfterCheckpoint, runCli as run, sharedPath } from './helpers.js';

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
    expect(await interruptAfterCheckpoint(['train', '--data', spec(0), '--layers', '1,3', ...args, '--out', stopped], join(stopped, 'layer-3', 'checkpoints'))).toBe(130);
    expect(existsSync(join(stopped, 'layer-3', 'sae.safetensors')), 'the job finished before it was stopped').toBe(false);
    const resumed = run(['train', '--data', spec(0), '--layers', '1,3', ...args, '--out', stopped, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    for (const l of [1, 3]) expect(readFileSync(join(stopped, `layer-${l}`, 'sae.safetensors')).equals(readFileSync(join(dir, `layer-${l}`, 'sae.safetensors'))), `layer ${l}`).toBe(true);
    // the folder evaluates as a whole: each layer's transcoder alone, then all spliced in together
    const ev = run(['eval', dir, '--model', stories!, '--contexts', '4', '--json']);
    expect(ev.status, ev.stderr).toBe(0);
    const res = JSON.parse(ev.stdout);
    expect(res.alone.map((a: { layer: number }) => a.layer)).toEqual([0, 1, 2, 3, 4]);
    expect(res.together.sites).toHaveLength(5);
    // layer 0 reads the clean stream whether or not the later layers are spliced
    expect(res.together.sites[0].fvu).toBeCloseTo(res.alone[0].downstream.site_fvu, 10);
    expect(res.together.kl_spliced).toBeGreaterThan(0);
    // the attribution graph of a prompt on these transcoders, and an intervention checked against it:
    // a last-layer feature has no later feature to respond, so zeroing it moves the target logit
    // by exactly its edge
    const graphPath = join(tmp(), 'graph.json');
    const prompt = ['attribute', '--model', stories!, '--transcoders', dir, '--prompt', 'Once upon a time, there was a dog', '--out', graphPath];
    const at = run(prompt);
    expect(at.status, at.stderr).toBe(0);
    const graph = JSON.parse(readFileSync(graphPath, 'utf8'));
    expect(graph.metadata.replacement_score).toBeGreaterThan(0);
    expect(graph.metadata.replacement_score).toBeLessThan(1);
    const T = graph.metadata.prompt_tokens.length;
    expect(graph.nodes.filter((n: { feature_type: string }) => n.feature_type === 'embedding')).toHaveLength(T);
    const targetId = graph.metadata.target;
    const lastLayer = graph.nodes.find((n: { layer: number; ctx_idx: number; feature_type: string }) => n.feature_type === 'cross layer transcoder' && n.layer === 4 && n.ctx_idx === T - 1);
    expect(lastLayer, 'a layer-4 feature at the last position in the pruned graph').toBeDefined();
    for (const l of graph.links) expect(graph.nodes.some((n: { node_id: string }) => n.node_id === l.source)).toBe(true);
    const ab = run([...prompt, '--ablate', lastLayer.node_id]);
    expect(ab.status, ab.stderr).toBe(0);
    const m = /set from [\d.]+ to 0: target logit ([-+][\d.]+) in the replacement model; the graph's direct edge predicts ([-+][\d.]+), its paths ([-+][\d.]+)/.exec(ab.stdout);
    expect(m, ab.stdout).not.toBeNull();
    expect(Number(m![1])).toBeCloseTo(Number(m![2]), 3);
    expect(Number(m![3])).toBeCloseTo(Number(m![2]), 3);
    // steered to twice its activation: the last-layer feature moves the logit by exactly its edge again
    const steered = run([...prompt, '--steer', `${lastLayer.node_id}=${2 * lastLayer.activation}`]);
    expect(steered.status, steered.stderr).toBe(0);
    const m2 = /target logit ([-+][\d.]+) in the replacement model; the graph's direct edge predicts ([-+][\d.]+)/.exec(steered.stdout);
    expect(Number(m2![1])).toBeCloseTo(-Number(m![1]), 3);
    expect(Number(m2![1])).toBeCloseTo(Number(m2![2]), 3);
    expect(targetId).toMatch(/^L_\d+_/);
    const bad = run(['train', '--data', 'synthetic:d=8', '--layers', 'all', '--out', join(tmp(), 'x')]);
    expect(bad.stderr).toMatch(/--layers trains on a live model's layers: --data must be lm:/);
    const bad2 = run(['train', '--data', spec(0), '--layers', '0,7', '--out', join(tmp(), 'x')]);
    expect(bad2.stderr).toMatch(/layer 7 does not exist: .* has layers 0\.\.4/);
  }, 600_000);

  it('transcoders spliced at every layer replace the MLPs: ones that output nothing give exactly the model with every MLP zeroed', async () => {
    const be = getBackend();
    const lm = await openLmSource(parseLmSpec(spec(0) + ',tokens=512,from=end'), be);
    const rng = new Rng(2), d = 64, n = 16;
    const silent: Sae = { cfg: { format: 'saekit-sae', arch: 'topk', d, n, k: 4, dOut: d, multiTopK: false, data: '' },
      params: { W_enc: rng.normals(n * d), b_enc: new Float32Array(n), W_dec: new Float32Array(n * d), b_dec: new Float32Array(d) } };
    const splices = [0, 1, 2, 3, 4].map((layer) => ({ sae: silent, layer, site: 'mlp_in' as const, target: 'mlp_out' as const }));
    const r = downstreamEval(be, splices, lm, 4);
    expect(r.ce_spliced).toBe(r.ce_zero);
    expect(r.kl_spliced).toBe(r.kl_zero);
    expect(r.ce_recovered).toBe(0);
    expect(r.kl_zero).toBeGreaterThan(0.1);
    // predicting zero: FVU = Σ||x||² / Σ||x − x̄||² >= 1 at every site
    for (const site of r.sites) expect(site.fvu).toBeGreaterThanOrEqual(1);
    // one layer's transcoder alone zeroes only that layer's MLP
    const one = downstreamEval(be, [splices[2]!], lm, 4);
    expect(one.ce_spliced).toBe(one.ce_zero);
    expect(one.kl_zero).toBeLessThan(r.kl_zero);
    expect(() => downstreamEval(be, [splices[2]!, splices[2]!], lm, 4)).toThrow(/two splices write layer 2 mlp_out/);
  }, 120_000);

  it('--skip trains skip transcoders (x·W_skipᵀ added to the output): saved, loaded and encoded with the skip path, refused where it has no meaning', () => {
    const dir = tmp();
    const args = ['--transcode', '--latents', '128', '--k', '8', '--tokens', '16384', '--batch', '1024', '--eval-tokens', '2048', '--shuffle', '4096'];
    const r = run(['train', '--data', spec(0), '--layers', '2', '--skip', ...args, '--out', dir]);
    expect(r.status, r.stderr).toBe(0);
    const sae = loadSae(join(dir, 'layer-2'));
    expect(sae.cfg.skip).toBe(true);
    expect(sae.params.W_skip!.length).toBe(64 * 64);
    expect(sae.params.W_skip!.some((v) => v !== 0)).toBe(true);
    // inference adds the skip path: recon = z·W_dec + b_dec + x·W_skipᵀ
    const be = getBackend('reference');
    const x = new Rng(5).normals(3 * 64);
    const { z, recon } = encode(be, sae, x, 3);
    const sparse = be.sparseDecode(z, sae.params.W_dec, 64, sae.params.b_dec);
    for (let b = 0; b < 3; b++) {
      for (let c = 0; c < 64; c += 9) {
        let s = sparse[b * 64 + c]!;
        for (let j = 0; j < 64; j++) s += x[b * 64 + j]! * sae.params.W_skip![c * 64 + j]!;
        expect(recon[b * 64 + c]).toBeCloseTo(s, 4);
      }
    }
    expect(run(['export', join(dir, 'layer-2'), '--format', 'sparsify', '--out', join(tmp(), 'e')]).stderr).toMatch(/skip transcoder's skip path \(W_skip\) has no place/);
    expect(run(['train', '--data', 'synthetic:d=8', '--skip', '--out', join(tmp(), 'x')]).stderr).toMatch(/"skip": a skip path maps a transcoder's input to its output; pass transcode/);
  }, 120_000);
});
