// The seams between saekit's parts, where 0.1 decided one concept in several places: resume
// and the run config, the data spec and its held-out rule, the decoder geometry of
// transcoders, and the per-process model cache.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandGrid, SweepConfig } from '../src/app/sweep.js';
import { trainAndReport } from '../src/app/train.js';
import { getBackend } from '../src/compute/backend.js';
import { MemorySource } from '../src/data/memory.js';
import { ShardSource, ShardWriter } from '../src/data/shards.js';
import { canonicalData, evaluationData, formatDataSpec, openData, parseDataSpec } from '../src/data/spec.js';
import { SyntheticSource } from '../src/data/synthetic.js';
import { evalWarnings, readEvalSummary } from '../src/eval/report.js';
import { lockFolder } from '../src/io/lock.js';
import { modelLoads } from '../src/lm/load.js';
import type { Sae } from '../src/sae/common.js';
import { loadSae } from '../src/sae/folder.js';
import { parseTrainConfig } from '../src/train/config.js';
import { readRunConfig } from '../src/train/run-config.js';
import { train } from '../src/train/trainer.js';
import { indexRun } from '../src/viewer/index.js';
import { openSide, startServer } from '../src/viewer/server.js';
import { ViewerStore } from '../src/viewer/store.js';
import { runCli as run, sharedPath } from './helpers.js';

const be = getBackend();
const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-seam-'));
const data = 'synthetic:d=16,features=32,active=3';
const small = { data, latents: 64, k: 4, tokens: 40_960, batch: 1024, checkpointEvery: 8192 };

describe('resume: the saved configuration is the truth', () => {
  it('--resume without the original flags finishes with the run\'s own settings, eval.json and plots; --tokens may extend it', async () => {
    const out = join(tmp(), 'run');
    const first = await train(be, parseTrainConfig(small), { out, stopAfterSteps: 12 });
    expect(first.finished).toBe(false);
    const r = run(['train', '--out', out, '--resume', '--tokens', '61440', '--eval-tokens', '4096']);
    expect(r.status, r.stderr).toBe(0);
    // the banner prints the run's configuration, not the CLI defaults
    expect(r.stdout).toMatch(/training topk SAE on synthetic:d=16,features=32,active=3: 64 latents \(k=4,/);
    for (const f of ['eval.json', 'loss.svg', 'density.svg', 'report.md', 'sae.safetensors']) expect(existsSync(join(out, f)), f).toBe(true);
    const ev = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    // evaluated on the held-out stream of the run's own data (d=16), not the default synthetic data
    expect(ev.data).toMatch(/^synthetic:d=16,features=32,active=3,.*stream=1$/);
    expect(readRunConfig(out)!.cfg.tokens).toBe(61440);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.at(-1).tokens).toBe(61440);
  });

  it('--resume with a flag that differs from the run is refused, naming the field and both values', async () => {
    const out = join(tmp(), 'run');
    await train(be, parseTrainConfig(small), { out, stopAfterSteps: 3 });
    const r = run(['train', '--out', out, '--resume', '--k', '2', '--lr', '0.001']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--k 2 \(the run has 4\)/);
    expect(r.stderr).toMatch(/--lr 0\.001 \(the run has it unset\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // the library refuses it the same way
    await expect(train(be, parseTrainConfig({ ...small, latents: 128 }), { out, resume: true })).rejects.toThrow(/--latents 128 \(the run has 64\)/);
    // a field of another architecture is refused too
    expect(() => parseTrainConfig({ ...small, theta0: 0.1 })).toThrow(/"theta0" applies to arch jumprelu, not topk/);
  });

  it('a start that fails before its first checkpoint leaves nothing --resume would reuse', () => {
    const dir = tmp();
    const r = run(['train', '--out', 'bad', '--data', data, '--latents', '64', '--k', '4', '--tokens', '40k', '--batch', '1024', '--lr', '1e20'], dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/training diverged/);
    expect(existsSync(join(dir, 'bad'))).toBe(false);
    // a folder that existed (empty) stays, but holds no config.json
    mkdirSync(join(dir, 'kept'));
    run(['train', '--out', 'kept', '--data', data, '--latents', '64', '--k', '4', '--tokens', '40k', '--batch', '1024', '--lr', '1e20'], dir);
    expect(existsSync(join(dir, 'kept', 'config.json'))).toBe(false);
  });

  it('config.json and cfg.json are snake_case with the derived values apart, and 0.1\'s camelCase files still load and resume', async () => {
    const out = join(tmp(), 'run');
    const cfg = parseTrainConfig({ ...small, k: undefined, arch: 'jumprelu', lambda: 0.01 });
    await train(be, cfg, { out });
    const raw = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(raw).toMatchObject({ arch: 'jumprelu', lambda: 0.01, lambda_warmup: 0.05, jump_eps: 0.05, resolved: { d: 16, input_scale: 1 } });
    // only the architecture's own fields
    expect(raw).not.toHaveProperty('k');
    expect(raw).not.toHaveProperty('vae_noise');
    expect(JSON.parse(readFileSync(join(out, 'cfg.json'), 'utf8'))).toMatchObject({ arch: 'jumprelu', multi_top_k: false });

    // the same run as 0.1 wrote it: camelCase, derived values at the top level, every architecture's fields
    const old = join(tmp(), 'old');
    const stopped = await train(be, parseTrainConfig(small), { out: old, stopAfterSteps: 5 });
    expect(stopped.finished).toBe(false);
    const now = JSON.parse(readFileSync(join(old, 'config.json'), 'utf8'));
    const legacy = {
      arch: 'topk', data, latents: 64, k: 4, multiTopK: false, lambdaWarmup: 0.05, jumpEps: 0.05, theta0: 0.01, kdeDecay: 0, transcode: false, vaeNoise: 0.1,
      auxAlpha: 1 / 32, deadTokens: 10_000_000, tokens: small.tokens, batch: 1024, warmup: 0.01, decay: 0.2, clipGrad: 0, normalize: false,
      encoderInit: 'transpose', shuffle: 'none', seed: 0, logEvery: 10, checkpointEvery: 8192,
      d: 16, data_description: now.resolved.data_description, resolved_lr: now.resolved.lr, resolved_k_aux: now.resolved.k_aux, input_scale: 1,
      dead_tokens_effective: now.resolved.dead_tokens_effective,
    };
    writeFileSync(join(old, 'config.json'), JSON.stringify(legacy));
    expect(readRunConfig(old)!.cfg).toMatchObject({ arch: 'topk', k: 4, tokens: small.tokens });
    // defaults changed since: a run that recorded none of the new fields keeps what it started with
    // (JumpReLU/ReLU centred their input), while a run of this version keeps its own
    const oldJump = join(tmp(), 'old-jump');
    mkdirSync(oldJump);
    writeFileSync(join(oldJump, 'config.json'), JSON.stringify({ ...legacy, arch: 'jumprelu', k: undefined, multiTopK: undefined, auxAlpha: undefined, lambda: 0.003 }));
    expect(readRunConfig(oldJump)!.cfg).toMatchObject({ arch: 'jumprelu', centerInput: true, latents: 64, shuffle: 'none' });
    expect(readRunConfig(out)!.cfg).toMatchObject({ arch: 'jumprelu', centerInput: false });
    const r = run(['train', '--out', old, '--resume', '--eval-tokens', '2048']);
    expect(r.status, r.stderr).toBe(0);
    // the resumed run ends with the bits of an uninterrupted one
    const whole = join(tmp(), 'whole');
    await train(be, parseTrainConfig(small), { out: whole });
    expect(readFileSync(join(old, 'sae.safetensors')).equals(readFileSync(join(whole, 'sae.safetensors')))).toBe(true);
    // a 0.1 cfg.json (camelCase) loads
    const cfgOld = JSON.parse(readFileSync(join(whole, 'cfg.json'), 'utf8'));
    writeFileSync(join(whole, 'cfg.json'), JSON.stringify({ ...cfgOld, multi_top_k: undefined, multiTopK: false }));
    expect(loadSae(whole).cfg).toMatchObject({ arch: 'topk', k: 4, multiTopK: false });
  });
});

describe('the library trains from a source it is given', () => {
  it('train() with a source factory over rows in memory ends with the bits of training on the same rows by spec', async () => {
    const rows = new Float32Array(small.tokens * 16);
    const syn = new SyntheticSource({ d: 16, features: 32, active: 3 });
    // (read in the trainer's batch size: the synthetic stream's rows depend on how it is read)
    for (let r = 0; r < small.tokens; r += small.batch) syn.read(rows.subarray(r * 16), small.batch);
    const mem = new MemorySource(rows, 16, 'rows in memory', syn.truth);
    const a = join(tmp(), 'mem'), b = join(tmp(), 'spec');
    const res = await train(be, parseTrainConfig({ ...small, data: 'rows in memory' }), { out: a, source: () => mem.rewind() });
    expect(res).toMatchObject({ finished: true, tokens: small.tokens });
    expect(loadSae(a).cfg.data).toBe('rows in memory');
    await train(be, parseTrainConfig(small), { out: b });
    expect(readFileSync(join(a, 'sae.safetensors')).equals(readFileSync(join(b, 'sae.safetensors')))).toBe(true);
  });
});

describe('the data spec: parsed once, one canonical form, one held-out rule', () => {
  it('tells synthetic specs from paths that merely start with "synthetic", and round-trips', () => {
    expect(parseDataSpec('synthetic-acts')).toEqual({ kind: 'shards', path: 'synthetic-acts' });
    expect(parseDataSpec('synthetic.safetensors')).toEqual({ kind: 'file', path: 'synthetic.safetensors' });
    expect(parseDataSpec('synthetic')).toEqual({ kind: 'synthetic', given: {} });
    for (const s of ['synthetic', 'synthetic:d=16,features=32,stream=0', 'runs/acts', 'lm:model=m.bin,corpus=c.txt,layer=1,site=mlp_out,ctx=64']) {
      expect(canonicalData(canonicalData(s))).toBe(canonicalData(s));
    }
    // canonical: schema order, whatever order the user wrote
    expect(canonicalData('synthetic:stream=1,d=16')).toBe('synthetic:d=16,stream=1');
    expect(() => parseDataSpec('synthetic:d=abc')).toThrow(/--data synthetic:d=abc: "d=abc" is not key=number/);
  });

  it('held out: the SAE\'s own data always gives its held-out part; data the user names keeps the part it names', () => {
    const own = evaluationData('synthetic:d=16,stream=0', 100, true).spec;
    expect(formatDataSpec(own)).toBe('synthetic:d=16,stream=1');
    expect(formatDataSpec(evaluationData('synthetic:d=16,stream=0', 100, false).spec)).toBe('synthetic:d=16,stream=0');
    expect(formatDataSpec(evaluationData('synthetic:d=16', 100, false).spec)).toBe('synthetic:d=16,stream=1');
    const lm = evaluationData('lm:model=m.bin,corpus=c.txt,layer=1,site=resid_post', 4096, true);
    expect(formatDataSpec(lm.spec)).toMatch(/tokens=4096,.*from=end/);
    expect(evaluationData('acts', 10, true)).toEqual({ spec: { kind: 'shards', path: 'acts' }, heldOutPart: false });
  });

  it('eval and index read a shard folder named synthetic-*, and index honours stream=', async () => {
    const dir = tmp();
    const out = join(dir, 'run');
    await train(be, parseTrainConfig(small), { out });
    // shards of the same synthetic data, in a folder whose name starts with "synthetic"
    const src = new SyntheticSource({ d: 16, features: 32, active: 3, stream: 1 });
    const rows = new Float32Array(4096 * 16);
    src.read(rows, 4096);
    const w = new ShardWriter(join(dir, 'synthetic-acts'), { d: 16, shardTokens: 2048 });
    w.write(rows, 4096);
    w.close();
    const ev = run(['eval', 'run', '--data', 'synthetic-acts', '--tokens', '4096', '--json'], dir);
    expect(ev.status, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout)).toMatchObject({ data: expect.stringMatching(/synthetic-acts/), tokens: 4096 });
    const ix = run(['index', 'run', '--data', 'synthetic-acts', '--tokens', '4096'], dir);
    expect(ix.status, ix.stderr).toBe(0);
    await indexRun(be, out, { data: `${data},stream=0`, tokens: 2048, top: 3, window: 2, neighbors: 2 });
    expect(String(new ViewerStore(join(out, 'viewer.sqlite')).meta().data)).toMatch(/stream=0$/);
    await indexRun(be, out, { tokens: 2048, top: 3, window: 2, neighbors: 2 });
    expect(String(new ViewerStore(join(out, 'viewer.sqlite')).meta().data)).toMatch(/stream=1$/);
  });
});

/** Float64 brute force: for row i of a [na, w], the other rows of b [nb, w] by cosine, best first. */
function bruteCosine(a: Float32Array, i: number, b: Float32Array, nb: number, w: number, skipSelf: boolean): number[] {
  const norm = (m: Float32Array, r: number) => Math.sqrt(Array.from({ length: w }, (_, c) => m[r * w + c]! ** 2).reduce((s, v) => s + v, 0));
  const cos = Array.from({ length: nb }, (_, j) => {
    let dot = 0;
    for (let c = 0; c < w; c++) dot += a[i * w + c]! * b[j * w + c]!;
    return { j, c: dot / (norm(a, i) * norm(b, j)) };
  }).filter((x) => !(skipSelf && x.j === i));
  return cos.sort((u, v) => v.c - u.c).map((x) => x.j);
}

describe('decoder geometry of a transcoder (rows of width d_out)', () => {
  it('viewer neighbours and compare matches equal a float64 brute force', async () => {
    const dir = tmp();
    const tdata = 'synthetic:d=32,features=48,active=3,targetD=12';
    const runs: Sae[] = [];
    for (const seed of [0, 1]) {
      const out = join(dir, `tc${seed}`);
      await train(be, parseTrainConfig({ data: tdata, transcode: true, latents: 64, k: 3, tokens: 20_480, batch: 1024, seed }), { out });
      await indexRun(be, out, { tokens: 2048, top: 2, window: 2, neighbors: 3 });
      runs.push(loadSae(out));
    }
    const [a, b] = runs as [Sae, Sae];
    expect(a.cfg.dOut).toBe(12);
    const storeA = new ViewerStore(join(dir, 'tc0', 'viewer.sqlite'));
    const server = await startServer(be, openSide(storeA), openSide(new ViewerStore(join(dir, 'tc1', 'viewer.sqlite'))), 0);
    try {
      const port = (server.address() as { port: number }).port;
      for (const id of [0, 7, 33, 63]) {
        const nbs = (storeA.latent(id) as { neighbors: { id: number }[] }).neighbors.map((x) => x.id);
        expect(nbs).toEqual(bruteCosine(a.params.W_dec, id, a.params.W_dec, 64, 12, true).slice(0, 3));
        const res = await fetch(`http://127.0.0.1:${port}/api/compare/${id}`);
        const body = await res.json() as { matches: { id: number }[] };
        expect(body.matches.map((m) => m.id)).toEqual(bruteCosine(a.params.W_dec, id, b.params.W_dec, 64, 12, false).slice(0, 3));
      }
    } finally {
      server.close();
    }
  });
});

describe('one process loads a model and packs a corpus once', () => {
  const stories = sharedPath('models/stories260K/stories260K.bin');
  const shakespeare = sharedPath('corpus/tinyshakespeare.txt');
  it.skipIf(!stories || !shakespeare)('train --data lm:... then its held-out evaluation: one model load', async () => {
    const before = modelLoads();
    const res = await trainAndReport(be, {
      settings: { data: `lm:model=${stories},corpus=${shakespeare},layer=2,site=resid_post,ctx=64`, latents: 128, k: 8, tokens: 4096, batch: 1024 },
      out: join(tmp(), 'run'), resume: false, evalTokens: 2048,
    });
    expect(res.summary!.tokens).toBe(2048);
    expect(modelLoads() - before).toBe(1);
  });
});

describe('reports say what their numbers mean', () => {
  it('eval.json keeps the trainer\'s "dead" apart from "never fired in the evaluated tokens", and warns when the data ran out', async () => {
    const dir = tmp();
    const src = new SyntheticSource({ d: 16, features: 32, active: 3 });
    const rows = new Float32Array(3000 * 16);
    src.read(rows, 3000);
    const w = new ShardWriter(join(dir, 'acts'), { d: 16, shardTokens: 1000 });
    w.write(rows, 3000);
    w.close();
    const out = join(dir, 'run');
    const res = await trainAndReport(be, { settings: { data: join(dir, 'acts'), latents: 64, k: 4, tokens: 8192, batch: 1024 }, out, resume: false, evalTokens: 2048 });
    expect(res.train.tokens).toBe(3000);
    const ev = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    // the dead window is the one asked for (default 10M tokens), not cut to the 3000 rows the data
    // holds: within this run no latent counts as dead, and the report says why
    expect(ev).toMatchObject({ never_fired_fraction: expect.any(Number), dead_fraction: 0, dead_window: 10_000_000, trained_tokens: 3000 });
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/dead \(training\)\s+none can be: the dead window \(10000000 tokens, --dead-tokens\) is longer than the 3000 tokens trained/);
    expect(ev.warnings.join(' ')).toMatch(/the data ended after 3000 of the 8192 tokens asked for/);
    // 3000 rows cannot spare 2048 for held-out evaluation: it says that it read training rows
    expect(ev.warnings.join(' ')).toMatch(/evaluated on rows the run may have trained on/);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(/warning: the data ended after 3000/);
    // 0.1's eval.json called the never-fired fraction "dead_fraction"
    writeFileSync(join(dir, 'old.json'), JSON.stringify({ fvu: 0.2, l0: 4, dead_fraction: 0.25, normalized_mse: 0.2, tokens: 10 }));
    expect(readEvalSummary(join(dir, 'old.json'))).toMatchObject({ never_fired_fraction: 0.25 });
    expect(evalWarnings({ ...ev, fvu: 1.4 }).join(' ')).toMatch(/FVU 1\.400 > 1: the reconstruction is worse than predicting the mean/);
    expect(evalWarnings(ev, { downstream: { ce_recovered: 1.05 } }).join(' ')).toMatch(/CE recovered 105\.0% > 100%/);
  });
});

describe('shard data: the final evaluation never reads rows the run trained on', () => {
  it('train reserves the last evalTokens rows of a shard folder, trains on the rest, and evaluates on exactly those', async () => {
    const dir = tmp();
    const rows = new Float32Array(20_000 * 16);
    new SyntheticSource({ d: 16, features: 32, active: 3 }).read(rows, 20_000);
    const w = new ShardWriter(join(dir, 'acts'), { d: 16, shardTokens: 6000 });
    w.write(rows, 20_000);
    w.close();
    const out = join(dir, 'run');
    const res = await trainAndReport(be, { settings: { data: join(dir, 'acts'), latents: 64, k: 4, tokens: 40_000, batch: 1024 }, out, resume: false, evalTokens: 2048 });
    // trained on rows 0:17952 only (the data "ends" there), evaluated on 17952:20000
    expect(res.train.tokens).toBe(17_952);
    expect(res.cfg.data).toBe(`${join(dir, 'acts')}#0:17952`);
    const ev = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    expect(ev).toMatchObject({ data: `${join(dir, 'acts')}#17952:20000`, tokens: 2048 });
    expect(ev.warnings.join(' ')).not.toMatch(/trained on/);
    // the learning-rate schedule was fitted to the 17952 rows available (18 steps, the last 3
    // decaying): the last step runs at lr/3, not at the full lr of a 40-step schedule
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.at(-1)).toMatchObject({ step: 18, tokens: 17_952 });
    expect(metrics.at(-1).lr).toBeCloseTo(Number(readRunConfig(out)!.resolved.lr) / 3, 10);
    // the ranged source reads exactly those rows, across shard boundaries, and resumes exactly
    const src = await openData(parseDataSpec(`${join(dir, 'acts')}#5990:6010`), be);
    const got = new Float32Array(20 * 16);
    expect(src.read(got, 100)).toBe(20);
    expect(Array.from(got)).toEqual(Array.from(rows.subarray(5990 * 16, 6010 * 16)));
    expect(() => new ShardSource(join(dir, 'acts'), { start: 30_000 })).toThrow(/rows 30000: are not a non-empty range of its 20000 rows/);
  });
});


describe('sweep run names', () => {
  it('grid values that sanitize to the same folder name get distinct names; clean names stay as they were', () => {
    const runs = expandGrid(SweepConfig.parse({ out: 'o', grid: { data: ['acts/a b', 'acts/a_b'], k: [2, 4] } }));
    const names = runs.map((r) => r.name);
    expect(new Set(names).size).toBe(4);
    for (const n of names) expect(n).toMatch(/^data=acts_a_b,k=[24]-[0-9a-f]{8}$/);
    expect(expandGrid(SweepConfig.parse({ out: 'o', grid: { k: [2, 4], seed: [0] } })).map((r) => r.name)).toEqual(['k=2,seed=0', 'k=4,seed=0']);
  });
});

describe('one writer per run folder, and resumes that survive what killed runs leave', () => {
  it('a second trainer on a folder in use is refused naming the holder; a stale lock is taken over', async () => {
    const out = join(tmp(), 'run');
    await train(be, parseTrainConfig(small), { out, stopAfterSteps: 3 });
    const release = lockFolder(out, 'a test holding the folder');
    const r = run(['train', '--out', out, '--resume']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`is in use by a test holding the folder \\(pid ${process.pid}, since `));
    await expect(train(be, parseTrainConfig(small), { out, resume: true })).resolves.toBeTruthy(); // the same process may nest
    release();
    // a lock left by a killed process (its pid no longer runs) is taken over
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(out, '.lock'), JSON.stringify({ pid: dead, what: 'saekit train', since: 'then' }));
    const again = run(['train', '--out', out, '--resume', '--eval-tokens', '1024']);
    expect(again.status, again.stderr).toBe(0);
    expect(existsSync(join(out, '.lock'))).toBe(false);
    // so is one whose holder is a zombie (killed, never reaped: an MPI rank after mpirun left,
    // where the container's init does not reap): here a child whose parent execs sleep and never waits
    const parent = spawn('sh', ['-c', 'sh -c "exit 0" & echo $!; exec sleep 20'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const zombie = Number(await new Promise<string>((r) => parent.stdout.once('data', (b) => r(String(b)))));
    for (const until = Date.now() + 5000; !/\) Z/.test(readFileSync(`/proc/${zombie}/stat`, 'utf8')) && Date.now() < until;) await new Promise((r) => setTimeout(r, 20));
    writeFileSync(join(out, '.lock'), JSON.stringify({ pid: zombie, what: 'saekit train', since: 'then' }));
    const release2 = lockFolder(out, 'after a zombie');
    release2();
    parent.kill();
  });

  it('resume falls back past a corrupt newest checkpoint, cleans temp files of killed writers, and still ends bit-identical', async () => {
    const out = join(tmp(), 'run'), whole = join(tmp(), 'whole');
    await train(be, parseTrainConfig(small), { out, stopAfterSteps: 30 });
    const ck = readdirSync(join(out, 'checkpoints')).sort();
    expect(ck).toEqual(['step-24', 'step-30']);
    const state = join(out, 'checkpoints', 'step-30', 'state.safetensors');
    writeFileSync(state, readFileSync(state).subarray(0, 100));
    writeFileSync(join(out, 'metrics.jsonl.tmp-99999999-deadbeef'), 'half');
    mkdirSync(join(out, 'checkpoints', 'step-31.tmp-99999999-abcdef12'));
    const r = run(['train', '--out', out, '--resume', '--eval-tokens', '1024']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/checkpoint .*step-30 is unreadable .*; falling back to .*step-24/);
    expect(readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(readdirSync(join(out, 'checkpoints')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await train(be, parseTrainConfig(small), { out: whole });
    expect(readFileSync(join(out, 'sae.safetensors')).equals(readFileSync(join(whole, 'sae.safetensors')))).toBe(true);
  });
});

describe('inputs checked before work starts', () => {
  it('transcoder shards whose targets disagree with the manifest are refused before training, naming file and tensor', async () => {
    const dir = tmp();
    const w = new ShardWriter(join(dir, 'acts'), { d: 8, dOut: 4, shardTokens: 250 });
    w.write(new Float32Array(500 * 8).fill(0.5), 500, undefined, undefined, new Float32Array(500 * 4).fill(0.25));
    w.close();
    const mpath = join(dir, 'acts', 'manifest.json');
    writeFileSync(mpath, JSON.stringify({ ...JSON.parse(readFileSync(mpath, 'utf8')), d_out: 8 }));
    expect(() => new ShardSource(join(dir, 'acts'))).toThrow(/shard-00000\.safetensors: "targets" has shape \[250,4\], the manifest says \[250,8\]/);
    const out = join(dir, 'run');
    await expect(train(be, parseTrainConfig({ data: join(dir, 'acts'), transcode: true, latents: 16, k: 2, tokens: 500, batch: 100 }), { out })).rejects.toThrow(/"targets" has shape/);
    expect(existsSync(out)).toBe(false);
    const inf = run(['info', join(dir, 'acts')]);
    expect(inf.status).not.toBe(0);
    expect(inf.stderr).toMatch(/"targets" has shape \[250,4\]/);
    // a shard file outside the folder is refused
    writeFileSync(mpath, JSON.stringify({ ...JSON.parse(readFileSync(mpath, 'utf8')), d_out: 4, shards: [{ file: '../x.safetensors', tokens: 250 }, { file: 'shard-00001.safetensors', tokens: 250 }] }));
    expect(() => new ShardSource(join(dir, 'acts'))).toThrow(/shard file "\.\.\/x\.safetensors" lies outside the folder/);
  });
});

describe('divergence and extreme scales are caught with a hint', () => {
  it('lr 10 stops with "diverged" and the --lr hint; activations ×1e-6 warn before training and train with --normalize', () => {
    const dir = tmp();
    const bad = run(['train', '--out', join(dir, 'lr'), '--data', data, '--latents', '64', '--k', '4', '--tokens', '100k', '--batch', '1024', '--lr', '10']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/training diverged at step \d+: FVU has stayed at .* for 20 steps; try a lower --lr \(now 10\.0\)/);
    const rows = new Float32Array(20_000 * 16);
    new SyntheticSource({ d: 16, features: 32, active: 3 }).read(rows, 20_000);
    for (let e = 0; e < rows.length; e++) rows[e]! *= 1e-6;
    const w = new ShardWriter(join(dir, 'tiny'), { d: 16, shardTokens: 10_000 });
    w.write(rows, 20_000);
    w.close();
    const args = ['train', '--data', join(dir, 'tiny'), '--latents', '64', '--k', '4', '--tokens', '18k', '--batch', '256', '--eval-tokens', '1024'];
    const raw = run([...args, '--out', join(dir, 'raw')]);
    expect(raw.stderr).toMatch(/warning: the activations' mean square is .*e-13 per dimension, far from 1.*pass --normalize/);
    expect(raw.stderr).toMatch(/training diverged.*--normalize/);
    const norm = run([...args, '--normalize', '--out', join(dir, 'norm')]);
    expect(norm.status, norm.stderr).toBe(0);
    expect(norm.stderr).not.toMatch(/warning: the activations/);
    expect(JSON.parse(readFileSync(join(dir, 'norm', 'eval.json'), 'utf8')).fvu).toBeLessThan(0.5);
  });
});
