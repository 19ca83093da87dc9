// The saekit command line as a user runs it: a kill -9 in mid-training followed by --resume,
// and clear one-line errors (no stack trace, non-zero exit, no partial files) on bad input.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { ShardSource } from '../src/data/shards.js';
import { buildContexts } from '../src/lm/contexts.js';
import { loadLm } from '../src/lm/load.js';
import { loadSae } from '../src/sae/folder.js';
import { CLI as cli, ROOT as root, runCli as run, sharedPath } from './helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-cli-'));
const stories = sharedPath('models/stories260K/stories260K.bin');
const shakespeare = sharedPath('corpus/tinyshakespeare.txt');
const trainArgs = ['train', '--data', 'synthetic:d=32,features=256,active=6', '--latents', '512', '--k', '6', '--tokens', '400k', '--batch', '1024', '--checkpoint-every', '20k', '--eval-tokens', '4096'];

describe('saekit CLI', () => {
  it('kill -9 during training, then --resume, ends with the same weights as an uninterrupted run', async () => {
    const whole = tmp(), killed = tmp();
    const ref = run([...trainArgs, '--out', whole]);
    expect(ref.status, ref.stderr).toBe(0);
    const child = spawn(process.execPath, [...cli, ...trainArgs, '--out', killed], { cwd: root, stdio: 'ignore' });
    // wait for the second checkpoint, then kill without warning
    const ckdir = join(killed, 'checkpoints');
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !(existsSync(ckdir) && readdirSync(ckdir).filter((d) => /^step-\d+$/.test(d)).length >= 2)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(join(killed, 'sae.safetensors')), 'the run finished before it could be killed').toBe(false);
    const resumed = run([...trainArgs, '--out', killed, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(readFileSync(join(killed, 'sae.safetensors')).equals(readFileSync(join(whole, 'sae.safetensors')))).toBe(true);
  });

  it('eval --json, export, import and info on a trained run', () => {
    const dir = tmp(), runDir = join(dir, 'run');
    expect(run(['train', '--data', 'synthetic:d=16,features=32,active=3', '--latents', '64', '--k', '3', '--tokens', '20k', '--batch', '512', '--eval-tokens', '2048', '--out', runDir]).status).toBe(0);
    const ev = run(['eval', runDir, '--data', 'synthetic:d=16,features=32,active=3', '--tokens', '4096', '--json']);
    expect(ev.status, ev.stderr).toBe(0);
    const j = JSON.parse(ev.stdout);
    for (const key of ['fvu', 'l0', 'never_fired_fraction', 'normalized_mse', 'mmcs']) expect(typeof j[key]).toBe('number');
    // the held-out stream of that data, with the code mostly positive (L0 <= k holds by construction)
    expect(j).toMatchObject({ tokens: 4096, data: expect.stringMatching(/^synthetic:d=16,.*stream=1$/) });
    expect(j.l0).toBeGreaterThan(2);
    const wrongD = run(['eval', runDir, '--data', 'synthetic:d=8', '--tokens', '512']);
    expect(wrongD.status).not.toBe(0);
    expect(wrongD.stderr).toMatch(/has d=8 but the SAE expects d=16/);
    for (const format of ['saelens', 'sparsify']) {
      expect(run(['export', runDir, '--format', format, '--out', join(dir, format)]).status).toBe(0);
      expect(run(['import', join(dir, format), '--out', join(dir, `${format}-back`)]).status).toBe(0);
      const back = JSON.parse(run(['eval', join(dir, `${format}-back`), '--data', 'synthetic:d=16,features=32,active=3', '--tokens', '4096', '--json']).stdout);
      expect(back.fvu).toBe(j.fvu);
    }
    const saved = run(['eval', join(dir, 'saelens-back'), '--data', 'synthetic:d=16,features=32,active=3', '--tokens', '4096', '--save']);
    expect(saved.status, saved.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'saelens-back', 'eval.json'), 'utf8')).fvu).toBe(j.fvu);
    const fr = run(['frontier', runDir, join(dir, 'saelens-back'), '--group-by', 'none']);
    expect(fr.status, fr.stderr).toBe(0);
    const inf = run(['info', runDir]);
    expect(inf.stdout).toMatch(/W_enc\s+F32\s+\[64, 16\]/);
    expect(inf.stdout).toMatch(/checkpoints: step-/);
    expect(run(['import', dir, '--out', join(dir, 'nothing')]).stderr).toMatch(/not an SAE folder saekit can read/);
  });

  it('sweep runs a grid resumably, and frontier compares the runs at matched L0', () => {
    const dir = tmp(), cfgPath = join(dir, 'sweep.json');
    writeFileSync(cfgPath, JSON.stringify({
      out: join(dir, 'sweep'), evalTokens: 4096,
      base: { data: 'synthetic:d=16,features=48,active=4', latents: 96, tokens: 40_000, batch: 1024 },
      grid: { k: [2, 4, 8], multiTopK: [false, true] },
    }));
    const first = run(['sweep', cfgPath]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/\| k=8,multiTopK=true \| /);
    const again = run(['sweep', cfgPath]);
    expect(again.stdout.match(/done already/g)?.length).toBe(6);
    const runs = readdirSync(join(dir, 'sweep')).filter((n) => n.startsWith('k=')).map((n) => join(dir, 'sweep', n));
    const fr = run(['frontier', ...runs, '--group-by', 'multiTopK', '--out', join(dir, 'fr')]);
    expect(fr.status, fr.stderr).toBe(0);
    expect(fr.stdout).toMatch(/multiTopK=false vs multiTopK=true: over L0 /);
    expect(existsSync(join(dir, 'fr', 'frontier.svg'))).toBe(true);
    writeFileSync(cfgPath, JSON.stringify({ out: join(dir, 'bad'), grid: { kk: [1] } }));
    expect(run(['sweep', cfgPath]).stderr).toMatch(/"kk" is not a training setting/);
  });

  it('bad flags and inputs are one-line errors naming the flag or file, before any work', () => {
    const dir = tmp(), runDir = join(dir, 'run');
    expect(run(['train', '--data', 'synthetic:d=16,features=32,active=3', '--latents', '32', '--k', '3', '--tokens', '4k', '--batch', '1024', '--eval-tokens', '1024', '--out', runDir]).status).toBe(0);
    writeFileSync(join(dir, 'file'), 'x');
    writeFileSync(join(dir, 'sweep.json'), '{"out": "s", "grid": {"__proto__": [1, 2]}}');
    const cases: [string[], RegExp][] = [
      [['extract', '--model', 'm.bin', '--corpus', 'c.txt', '--layer', '1', '--site', 'resid_post', '--shard-tokens', '0', '--out', join(dir, 'e')], /--shard-tokens: expected a whole number >= 1, got 0/],
      [['index', runDir, '--top', '-1'], /--top: expected a whole number from 1 to 10000, got -1/],
      [['index', runDir, '--neighbors', '-5'], /--neighbors: expected a whole number from 1 to 1000, got -5/],
      [['serve', runDir, '--port', '70000'], /--port: expected a whole number from 0 to 65535/],
      [['eval', runDir, '--tokens', '2.5'], /--tokens: expected a whole number >= 1, got 2.5/],
      [['train', '--data', 'synthetic', '--latents', '1e12', '--out', join(dir, 'huge')], /--latents 1000000000000: training needs about [\d.e+]+ GB .* more than this machine's [\d.]+ GB/],
      [['train', '--data', 'synthetic', '--tokens', '8k', '--batch', '1024', '--out', join(dir, 'file')], /--out .*file: is a file, not a folder/],
      [['sweep', join(dir, 'sweep.json')], /sweep\.json: key "grid\.__proto__" is not allowed/],
      [['train', '--data', 'synthetic', '--recipe', 'published', '--out', join(dir, 'r')], /--recipe needs --latents/],
      [['train', '--data', 'synthetic', '--latents', '64', '--recipe', join(dir, 'nofits.json'), '--out', join(dir, 'r')], /--recipe .*nofits\.json: no such file/],
    ];
    for (const [args, want] of cases) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(want);
      expect(r.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(join(dir, 'huge'))).toBe(false);
    // train --recipe takes lr and the dead window from the recipe, keeps the flags given
    const rr = run(['train', '--data', 'synthetic:d=16,features=32,active=3', '--latents', '64', '--k', '3', '--recipe', 'published', '--tokens', '4k', '--batch', '512', '--eval-tokens', '1024', '--out', join(dir, 'rec')]);
    expect(rr.status, rr.stderr).toBe(0);
    expect(rr.stdout).toMatch(/recipe \(published: Gao et al\. 2024.*lr 0\.0032, batch 512 \(given; recipe 4096\), deadTokens 10000000/);
    const saved = JSON.parse(readFileSync(join(dir, 'rec', 'config.json'), 'utf8'));
    expect(saved.lr).toBeCloseTo(2e-4 / Math.sqrt(64 / 16384), 12);
    expect(saved.batch).toBe(512);
  });

  it('index, export and import refuse to replace an existing target unless --force', () => {
    const dir = tmp(), runDir = join(dir, 'run');
    expect(run(['train', '--data', 'synthetic:d=16,features=32,active=3', '--latents', '32', '--k', '3', '--tokens', '8k', '--batch', '1024', '--eval-tokens', '1024', '--out', runDir]).status).toBe(0);
    const sae = readFileSync(join(runDir, 'sae.safetensors'));
    const ix = run(['index', runDir, '--tokens', '1024', '--out', join(runDir, 'sae.safetensors')]);
    expect(ix.status).not.toBe(0);
    expect(ix.stderr).toMatch(/--out .*sae\.safetensors exists and is not a viewer database: pass --force/);
    expect(readFileSync(join(runDir, 'sae.safetensors')).equals(sae)).toBe(true);
    // the default database is derived data: re-indexing replaces it
    for (let i = 0; i < 2; i++) expect(run(['index', runDir, '--tokens', '1024']).status).toBe(0);
    const ex = run(['export', runDir, '--format', 'saelens', '--out', runDir]);
    expect(ex.stderr).toMatch(/--out .*run already exists: pass --force/);
    expect(run(['export', runDir, '--format', 'saelens', '--out', join(dir, 'sl')]).status).toBe(0);
    const cfg = readFileSync(join(runDir, 'cfg.json'));
    expect(run(['import', join(dir, 'sl'), '--out', runDir]).stderr).toMatch(/--out .*run already exists: pass --force/);
    expect(readFileSync(join(runDir, 'cfg.json')).equals(cfg)).toBe(true);
    expect(run(['import', join(dir, 'sl'), '--out', join(dir, 'back')]).status).toBe(0);
    expect(run(['import', join(dir, 'sl'), '--out', join(dir, 'back'), '--force']).status).toBe(0);
  });

  it('analyze scales and stitch on two dictionary sizes, evaluated on held-out rows', () => {
    const dir = tmp(), data = 'synthetic:d=16,features=48,active=3';
    for (const n of [32, 96]) {
      const r = run(['train', '--data', data, '--latents', String(n), '--k', '3', '--tokens', '30k', '--batch', '1024', '--eval-tokens', '2048', '--out', join(dir, `n${n}`)]);
      expect(r.status, r.stderr).toBe(0);
    }
    const sc = run(['analyze', 'scales', join(dir, 'n32'), join(dir, 'n96'), '--data', data, '--tokens', '4096', '--out', join(dir, 'scales')]);
    expect(sc.status, sc.stderr).toBe(0);
    expect(sc.stdout).toMatch(/\| 32 → 96 \| [\d.]+% \| [\d.]+% \| [\d.]+% \| [\d.]+% \|/);
    const sj = JSON.parse(readFileSync(join(dir, 'scales', 'scales.json'), 'utf8'));
    expect(sj.steps[0].classes).toHaveLength(96);
    const f = sj.steps[0].fractions;
    expect(f.split + f.discovered + f.kept).toBeCloseTo(1, 6);
    const st = run(['stitch', join(dir, 'n32'), join(dir, 'n96'), '--data', data, '--tokens', '4096', '--out', join(dir, 'stitched')]);
    expect(st.status, st.stderr).toBe(0);
    // the stitched SAE is evaluated on the same held-out rows (stream 1 of the named data) as both inputs
    expect(JSON.parse(readFileSync(join(dir, 'stitched', 'eval.json'), 'utf8')).data).toMatch(/4096 rows of synthetic:d=16,.*stream=1/);
    const rows = [...st.stdout.matchAll(/\| (\d+) \| [\d.]+ \| ([\d.]+) \|/g)].map((m) => ({ n: Number(m[1]), fvu: Number(m[2]) }));
    expect(rows).toHaveLength(3);
    // the stitched dictionary sits between the two sizes
    expect(rows[1]!.n).toBeGreaterThan(32);
    expect(rows[1]!.n).toBeLessThanOrEqual(32 + 96);
    expect(loadSae(join(dir, 'stitched')).cfg.n).toBe(rows[1]!.n);
  });

  it.skipIf(!stories || !shakespeare)('extract --from end takes the corpus\'s last contexts: held-out rows disjoint from a --from start extraction', async () => {
    const dir = tmp();
    const args = ['extract', '--model', stories!, '--corpus', shakespeare!, '--layer', '1', '--site', 'resid_post', '--ctx', '64', '--tokens', '3000'];
    for (const from of ['start', 'end']) expect(run([...args, '--from', from, '--out', join(dir, from)]).status).toBe(0);
    const tokensOf = (p: string): Int32Array => {
      const src = new ShardSource(p), x = new Float32Array(src.length * src.d), tok = new Int32Array(src.length);
      src.readWithTokens(x, src.length, tok);
      return tok;
    };
    const start = tokensOf(join(dir, 'start')), end = tokensOf(join(dir, 'end'));
    expect(start.length).toBeGreaterThanOrEqual(3000);
    // the last contexts of the packed corpus, as the live held-out source reads them
    const { tokenizer } = await loadLm(stories!, getBackend());
    const rowsOf = async (fromEnd: boolean) => (await buildContexts(shakespeare!, tokenizer, { ctx: 64, excludeBos: true, rows: 3000, fromEnd })).tokens.filter((t) => t !== tokenizer.bos);
    const tail = await rowsOf(true), head = await rowsOf(false);
    expect(Array.from(end)).toEqual(Array.from(tail.subarray(0, end.length)));
    expect(Array.from(start)).toEqual(Array.from(head.subarray(0, start.length)));
    // and the two come from disjoint contexts: the corpus has far more than 2 × 3000 rows
    const all = await buildContexts(shakespeare!, tokenizer, { ctx: 64, excludeBos: true });
    expect(all.count * 63).toBeGreaterThan(10 * 3000);
    expect(Array.from(end.subarray(0, 200))).not.toEqual(Array.from(start.subarray(0, 200)));
  });

  it.skipIf(!stories || !shakespeare)('extract, generate, train on lm: data, and eval --model end to end on stories260K', () => {
    const dir = tmp();
    const gen = run(['generate', '--model', stories!, '--steps', '40']);
    expect(gen.status, gen.stderr).toBe(0);
    expect(gen.stdout).toMatch(/^Once upon a time, there was a little girl named Lily/);
    const lmArgs = ['--model', stories!, '--corpus', shakespeare!, '--layer', '2', '--site', 'resid_post', '--ctx', '64'];
    const ex = run(['extract', ...lmArgs, '--tokens', '20k', '--out', join(dir, 'acts')]);
    expect(ex.status, ex.stderr).toBe(0);
    expect(ex.stdout).toMatch(/wrote 20000 rows of d=64 in 1 shard/);
    expect(run(['extract', ...lmArgs, '--tokens', '20k', '--out', join(dir, 'acts')]).stderr).toMatch(/already holds an extraction; pass --resume/);
    const spec = `lm:model=${stories},corpus=${shakespeare},layer=2,site=resid_post,ctx=64`;
    const tr = run(['train', '--data', spec, '--latents', '256', '--k', '8', '--tokens', '30k', '--batch', '1024', '--eval-tokens', '4096', '--out', join(dir, 'run')]);
    expect(tr.status, tr.stderr).toBe(0);
    // held out: the corpus's last contexts, as many as the evaluation reads
    expect(JSON.parse(readFileSync(join(dir, 'run', 'eval.json'), 'utf8')).data).toMatch(/,tokens=4096,.*from=end/);
    const ev = run(['eval', join(dir, 'run'), '--model', stories!, '--contexts', '8', '--tokens', '4096', '--json']);
    expect(ev.status, ev.stderr).toBe(0);
    const res = JSON.parse(ev.stdout);
    expect(res.downstream.ce_zero).toBeGreaterThan(res.downstream.ce_clean);
    expect(res.downstream.ce_recovered).toBeGreaterThan(0.5);
    expect(res.fvu).toBeLessThan(0.6);
    // an SAE trained on the cached shards knows its layer and site from the manifest
    const tr2 = run(['train', '--data', join(dir, 'acts'), '--latents', '256', '--k', '8', '--tokens', '20k', '--batch', '1024', '--eval-tokens', '4096', '--out', join(dir, 'run2')]);
    expect(tr2.status, tr2.stderr).toBe(0);
    const ev2 = run(['eval', join(dir, 'run2'), '--model', stories!, '--contexts', '4', '--tokens', '2048']);
    expect(ev2.status, ev2.stderr).toBe(0);
    expect(ev2.stdout).toMatch(/CE recovered [\d.]+%/);
    expect(ev2.stdout).not.toMatch(/warning: evaluated on/);
    // evaluated at another layer than it was trained on: said, in the output and the JSON
    const ev3 = run(['eval', join(dir, 'run2'), '--model', stories!, '--layer', '1', '--contexts', '2', '--tokens', '1024', '--json']);
    expect(ev3.status, ev3.stderr).toBe(0);
    expect(JSON.parse(ev3.stdout).warnings).toContainEqual(expect.stringMatching(/evaluated on .*stories260K\.bin layer 1 resid_post, but the SAE was trained on .*stories260K\.bin layer 2 resid_post/));
    const bad = run(['extract', '--model', stories!, '--corpus', shakespeare!, '--layer', '9', '--site', 'resid_post', '--out', join(dir, 'bad')]);
    expect(bad.stderr).toMatch(/layer 9 does not exist: .* has layers 0\.\.4/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [['train', '--out', 'x', '--k', '9', '--latents', '8'], /"k": k must be <= latents/],
    [['train', '--out', 'x', '--tokens', '-5'], /"tokens"/],
    [['train', '--out', 'x', '--tokens', 'lots'], /--tokens: "lots" is not a number/],
    [['train', '--out', 'x', '--bogus'], /unknown option '--bogus'/],
    [['train', '--out', 'x', '--data', 'synthetic:d=abc'], /"d=abc" is not key=number/],
    [['train', '--out', 'x', '--data', '/nonexistent/acts'], /\/nonexistent\/acts: no such file or folder/],
    [['train', '--out', 'x', '--arch', 'gated'], /unknown architecture "gated" \(expected one of topk, batchtopk/],
    [['train', '--out', 'x', '--arch', 'clt', '--transcode'], /"cltLayers": a cross-layer transcoder needs --clt-layers L/],
  ])('bad input %j gets a clear error', (args, message) => {
    const cwd = tmp();
    const r = spawnSync(process.execPath, [...cli, ...args], { cwd, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(existsSync(join(cwd, 'x', 'sae.safetensors'))).toBe(false);
  });
});
