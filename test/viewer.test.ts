// The feature viewer: saekit index on a synthetic run (ground-truth matches) and on a real
// model's activations (token contexts, logit effects), the read-only JSON API (paging, sorting,
// filters, 404s, no path traversal, no writes), and the page itself in Debian's chromium.
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBackend } from '../src/compute/backend.js';
import { parseTrainConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';
import { withLive } from '../src/app/live.js';
import { indexRun } from '../src/viewer/index.js';
import { openSide, startServer } from '../src/viewer/server.js';
import { ViewerStore } from '../src/viewer/store.js';
import { sharedPath } from './helpers.js';

const be = getBackend();
const tmp = (): string => mkdtempSync(join(tmpdir(), 'saekit-viewer-'));

/** GET (or another method) with the path sent exactly as given. */
function get(port: number, path: string, method = 'GET', headers: Record<string, string> = {}, agent?: Agent): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}
const json = async (port: number, path: string): Promise<any> => JSON.parse((await get(port, path)).body); // eslint-disable-line @typescript-eslint/no-explicit-any

describe('viewer on a synthetic run', () => {
  let server: Server, port: number, n: number, run: string;
  beforeAll(async () => {
    run = join(tmp(), 'run');
    const res = await train(be, parseTrainConfig({ data: 'synthetic:d=16,features=32,active=3', latents: 64, k: 3, tokens: 60_000, batch: 1024 }), { out: run });
    n = res.sae.cfg.n;
    await indexRun(be, run, { tokens: 8192, top: 5, window: 4, neighbors: 4 });
    server = await startServer(be, openSide(new ViewerStore(join(run, 'viewer.sqlite'))), null, 0);
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server?.close());

  it('overview, paged and sorted latent lists, filters', async () => {
    const o = await json(port, '/api/overview');
    expect(o.cfg).toMatchObject({ arch: 'topk', n: 64, k: 3 });
    expect(o.meta).toMatchObject({ rows: 8192, truth: true, has_text: false });
    const page = await json(port, '/api/latents?sort=density&order=desc&limit=10&offset=10');
    expect(page.total).toBe(n);
    expect(page.items).toHaveLength(10);
    const d = page.items.map((l: { density: number }) => l.density);
    expect([...d].sort((a, b) => b - a)).toEqual(d);
    const first = await json(port, '/api/latents?sort=density&order=desc&limit=10');
    expect(first.items[9].density).toBeGreaterThanOrEqual(d[0]);
    const dense = await json(port, `/api/latents?minDensity=${d[0]}&limit=500`);
    expect(dense.items.every((l: { density: number }) => l.density >= d[0])).toBe(true);
    const one = await json(port, '/api/latents?q=7');
    expect(one.items.map((l: { id: number }) => l.id)).toEqual([7]);
    expect((await get(port, '/api/latents?sort=drop_table')).status).toBe(400);
  });

  it('a latent page: stats, histogram, examples, neighbours, opposing partner, ground-truth match', async () => {
    const top = (await json(port, '/api/latents?sort=density&order=desc&limit=1')).items[0];
    const l = await json(port, `/api/latent/${top.id}`);
    expect(l.density).toBeGreaterThan(0);
    expect(l.hist).toHaveLength(20);
    expect(l.hist.reduce((a: number, b: number) => a + b, 0)).toBe(l.count);
    expect(l.examples.length).toBe(5);
    expect(l.examples[0].act).toBeCloseTo(l.max_act, 5);
    expect(l.neighbors).toHaveLength(4);
    expect(l.neighbors[0].cos).toBeGreaterThanOrEqual(l.neighbors[3].cos);
    expect(l.opposing_id).not.toBeNull();
    expect(l.truth_id).toBeGreaterThanOrEqual(0);
    expect(l.truth_cos).toBeGreaterThan(0.5);
  });

  it('is read-only and answers bad ids and paths with 404 JSON, never a file outside its routes', async () => {
    for (const path of ['/api/latent/999', '/api/latent/abc', '/api/nothing', '/../cfg.json', '/%2e%2e/%2e%2e/etc/passwd', '/plot/../../cfg.json', '/plot/x.svg', '/api/compare/1']) {
      const r = await get(port, path);
      expect(r.status, path).toBe(404);
      expect(r.type, path).toMatch(/application\/json/);
      expect(JSON.parse(r.body).error, path).toBeTruthy();
    }
    expect((await get(port, '/api/overview', 'POST')).status).toBe(405);
    expect((await get(port, '/api/latent/1', 'DELETE')).status).toBe(405);
    const svg = await get(port, '/plot/density.svg');
    expect(svg.status).toBe(200);
    expect(svg.body).toMatch(/^<svg/);
  });

  it('answers query values out of range with 400 naming the parameter; refuses to compare SAEs of different widths', async () => {
    for (const [q, name] of [['offset=1e300', 'offset'], ['offset=-5', 'offset'], ['limit=abc', 'limit'], ['limit=0', 'limit'], ['offset=1.5', 'offset']]) {
      const r = await get(port, `/api/latents?${q}`);
      expect(r.status, q).toBe(400);
      expect(JSON.parse(r.body).error, q).toMatch(new RegExp(`^${name} must be a whole number from`));
    }
    expect((await json(port, `/api/latents?offset=${n}`)).items).toEqual([]);
    const wide = join(tmp(), 'wide');
    await train(be, parseTrainConfig({ data: 'synthetic:d=24,features=32,active=3', latents: 32, k: 3, tokens: 4096, batch: 1024 }), { out: wide });
    await indexRun(be, wide, { tokens: 2048, top: 2, window: 2, neighbors: 2 });
    const side = (r: string) => openSide(new ViewerStore(join(r, 'viewer.sqlite')));
    expect(() => startServer(be, side(run), side(wide), 0)).toThrow(/--compare .*wide: its decoder writes vectors of width 24, .*run's of width 16/);
  });

  it('under load: 400 requests over 16 connections all answered; a client that never finishes its headers is cut off at the timeout while others are served', async () => {
    const slow = await startServer(be, openSide(new ViewerStore(join(run, 'viewer.sqlite'))), null, 0, '127.0.0.1', { headersTimeoutMs: 1000 });
    const sport = (slow.address() as { port: number }).port;
    try {
      // a client that sends half a request and then nothing
      const sock = connect(sport, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write(`GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1:${sport}\r\n`);
      const t0 = performance.now();
      let answer = '';
      sock.on('data', (b) => { answer += String(b); });
      const closed = new Promise<number>((r) => sock.once('close', () => r(performance.now() - t0)));
      sock.on('error', () => {});
      // meanwhile, bounded load from 16 keep-alive connections
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      const times: number[] = [];
      const w0 = performance.now();
      const paths = ['/api/overview', '/api/latents?sort=density&order=desc&limit=50', '/api/latent/3', '/api/latents?offset=20&limit=10'];
      const statuses = await Promise.all(Array.from({ length: 400 }, async (_, i) => {
        const s0 = performance.now();
        const r = await get(sport, paths[i % paths.length]!, 'GET', { host: `127.0.0.1:${sport}` }, agent);
        times.push(performance.now() - s0);
        return r.status;
      }));
      const wall = performance.now() - w0;
      agent.destroy();
      expect(statuses.every((x) => x === 200)).toBe(true);
      const cut = await closed;
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(cut).toBeGreaterThan(900);
      expect(cut).toBeLessThan(10_000);
      times.sort((a, b) => a - b);
      console.log(`viewer load: 400 requests over 16 connections in ${wall.toFixed(0)} ms (${(400000 / wall).toFixed(0)} requests/s), latency in the queue p50 ${times[200]!.toFixed(1)} ms, p99 ${times[396]!.toFixed(1)} ms; a stalled client cut off after ${cut.toFixed(0)} ms (headers timeout 1000 ms)`);
    } finally {
      slow.close();
    }
  });

  it('refuses requests addressed to another name (DNS rebinding) or sent from another origin', async () => {
    for (const headers of [{ host: 'evil.example.com' }, { host: `evil.example.com:${port}` }, { host: `127.0.0.1:${port + 1}` }, { origin: 'http://evil.example.com' }]) {
      const r = await get(port, '/api/overview', 'GET', headers);
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.body, JSON.stringify(headers)).not.toMatch(/cfg|meta/);
    }
    // the loopback names with the port, and a same-origin page, are answered
    for (const headers of [{ host: `localhost:${port}` }, { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` }]) {
      expect((await get(port, '/api/overview', 'GET', headers)).status, JSON.stringify(headers)).toBe(200);
    }
  });
});

const stories = sharedPath('models/stories260K/stories260K.bin');
const shakespeare = sharedPath('corpus/tinyshakespeare.txt');
const chromium = existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : null;
if (!chromium) console.warn('skipping the browser test: /usr/bin/chromium not found (apt-get install chromium; .ci/run installs it)');

describe.skipIf(!stories || !shakespeare)('viewer on a real model\'s activations', () => {
  let server: Server, port: number, run: string;
  beforeAll(async () => {
    run = join(tmp(), 'lm-run');
    const spec = `lm:model=${stories},corpus=${shakespeare},layer=2,site=resid_post,ctx=64`;
    await train(be, parseTrainConfig({ data: spec, latents: 256, k: 8, tokens: 40_000, batch: 1024 }), { out: run });
    await indexRun(be, run, { tokens: 6000, top: 6, window: 6, neighbors: 5 });
    // what eval --save writes for a run evaluated with its model
    writeFileSync(join(run, 'eval.json'), JSON.stringify({ tokens: 4096, fvu: 0.25, l0: 8, never_fired_fraction: 0.125, downstream: { ce_clean: 1.5, ce_spliced: 1.75, ce_recovered: 0.875, kl: 0.25 } }));
    server = await startServer(be, withLive(be, openSide(new ViewerStore(join(run, 'viewer.sqlite')))), openSide(new ViewerStore(join(run, 'viewer.sqlite'))), 0);
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server?.close());

  it('a latent page carries samples from ten activation intervals, a logit-effect histogram over the vocabulary and its place among all densities', async () => {
    const top = (await json(port, '/api/latents?sort=density&order=desc&limit=1')).items[0];
    const l = await json(port, `/api/latent/${top.id}`);
    // SAEDashboard's groups: (0, max] in ten equal widths, highest first, each with the share of activations it holds
    expect(l.intervals.length).toBe(10);
    expect(l.intervals[0].hi).toBeCloseTo(l.max_act, 5);
    expect(l.intervals[9].lo).toBe(0);
    expect(l.intervals.reduce((a: number, q: { share: number }) => a + q.share, 0)).toBeCloseTo(1, 6);
    for (const q of l.intervals) {
      expect(q.examples.length).toBe(q.share > 0 ? Math.min(5, Math.round(q.share * l.count)) : 0);
      for (const e of q.examples) expect(e.act > q.lo - 1e-6 && e.act <= q.hi + 1e-6, `${e.act} in (${q.lo}, ${q.hi}]`).toBe(true);
    }
    expect(l.intervals.filter((q: { share: number }) => q.share > 0).length).toBeGreaterThan(5);
    expect(l.logit_hist.counts.reduce((a: number, b: number) => a + b, 0)).toBe(512); // stories260K's vocabulary
    expect(l.logit_hist.hi).toBeCloseTo(l.logits_top[0].value, 3);
    expect(l.density_percentile).toBeGreaterThan(0.9); // the densest latent
    const h = await json(port, '/api/densities');
    expect(h.counts.reduce((a: number, b: number) => a + b, 0) + h.dead).toBe(256);
  });

  it.skipIf(!chromium)('in chromium: overview numbers and CE, a latent page with axes, interval samples and visible newlines, live text, steering, compare links (screenshots)', async () => {
    const { chromium: pw } = await import('playwright-core');
    const browser = await pw.launch({ executablePath: chromium!, args: ['--no-sandbox', '--disable-gpu'] });
    const out = join(import.meta.dirname, 'output');
    mkdirSync(out, { recursive: true });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector('#metrics');
      const metrics = await page.locator('#metrics').textContent();
      expect(metrics).toMatch(/downstream ce_recovered\s*0\.8750/);
      expect(metrics).toMatch(/d64n256k8/); // integers as integers (was 64.0000)
      expect(metrics).not.toMatch(/\d\.0000\b/);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(1200);
      await page.screenshot({ path: join(out, 'viewer-overview.png'), fullPage: true });
      // a latent whose examples hold a newline token
      const list = (await json(port, '/api/latents?sort=density&order=desc&limit=60')).items;
      let id = -1;
      for (const x of list) {
        const l = await json(port, `/api/latent/${x.id}`);
        if (l.examples.some((e: { tokens: string[] }) => e.tokens.some((t) => t.includes('\n')))) { id = x.id; break; }
      }
      expect(id).toBeGreaterThanOrEqual(0);
      await page.goto(`http://127.0.0.1:${port}/#/latent/${id}`);
      await page.waitForSelector('.interval');
      expect(await page.locator('svg.hist').count()).toBeGreaterThanOrEqual(3); // activations, density among latents, logit effects
      expect(await page.locator('svg.hist text.axis').count()).toBeGreaterThan(10);
      expect(await page.locator('.interval').count()).toBe(10);
      expect(await page.locator('.examples .ws', { hasText: '↵' }).count()).toBeGreaterThan(0);
      const before = await page.locator('.acthist').innerHTML();
      await page.check('.logscale');
      expect(await page.locator('.acthist').innerHTML()).not.toBe(before);
      await page.screenshot({ path: join(out, 'viewer-latent-intervals.png'), fullPage: true });
      // typed text on the latent's page, shaded by it
      await page.fill('#live-latent textarea', 'First Citizen:\nBefore we proceed any further, hear me speak.');
      await page.click('#live-latent button');
      await page.waitForSelector('#live-latent-out .ctx');
      expect(await page.locator('#live-latent-out .tok').count()).toBeGreaterThan(5);
      // steering, side by side
      await page.fill('#steer input[name=scale]', '40');
      await page.click('#steer button');
      await page.waitForSelector('#steered');
      expect((await page.locator('#plain').textContent())!.startsWith('Once upon a time')).toBe(true);
      expect(await page.locator('#steered').textContent()).not.toBe(await page.locator('#plain').textContent());
      await page.screenshot({ path: join(out, 'viewer-steer.png'), fullPage: true });
      // live text on the list: per-token latents, a click opens the latent
      await page.goto(`http://127.0.0.1:${port}/#/latents`);
      await page.fill('#live-list textarea', 'Before we proceed any further');
      await page.click('#live-list button');
      await page.waitForSelector('#live-list-table .chips a');
      await page.screenshot({ path: join(out, 'viewer-live.png'), fullPage: true });
      const first = page.locator('#live-list-table .chips a').first();
      const target = await first.textContent();
      await first.click();
      await page.waitForSelector('.examples');
      expect(await page.locator('h2').first().textContent()).toBe(`latent ${target}`);
      // links inside the compared SAE's cards stay in that SAE
      await page.goto(`http://127.0.0.1:${port}/#/compare/${id}`);
      await page.waitForSelector('.grid > div:nth-child(2) .card');
      const hrefs = await page.locator('.grid > div:nth-child(2) .card a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      expect(hrefs.length).toBeGreaterThan(0);
      expect(hrefs.every((h) => h!.startsWith('#/other/'))).toBe(true);
      await page.click('.grid > div:nth-child(2) .card a >> nth=0');
      await page.waitForSelector('text=(the compared SAE)');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);

  it('live text runs the model and the SAE on typed text; steering shifts the continuation; bounds and bad input are 400 JSON, writes 405', async () => {
    const r = await json(port, `/api/live?text=${encodeURIComponent('First Citizen:\nBefore we proceed any further')}`);
    expect(r.model).toMatch(/layer 2 resid_post/);
    expect(r.tokens.length).toBe(r.top.length);
    expect(r.tokens.join('')).toContain('Before we proceed');
    expect(r.top.every((t: { act: number }[]) => t.length > 0 && t.length <= 5 && t[0]!.act >= t[t.length - 1]!.act)).toBe(true);
    const id = r.top[3][0].id;
    const one = await json(port, `/api/live?text=${encodeURIComponent('First Citizen:\nBefore we proceed any further')}&latent=${id}`);
    expect(one.latent[3]).toBeCloseTo(r.top[3][0].act, 5);
    const st = await json(port, `/api/steer?latent=${id}&scale=40&prompt=${encodeURIComponent('Once upon a time')}&steps=16`);
    expect(typeof st.plain).toBe('string');
    expect(st.steered).not.toBe(st.plain);
    for (const [path, pattern] of [
      [`/api/live?text=${'x'.repeat(601)}`, /text must be at most 600 characters/],
      ['/api/live?text=hi&latent=256', /latent must be a whole number from 0 to 255/],
      ['/api/steer?latent=1&scale=1e9&prompt=hi', /scale must be a number from -1000 to 1000/],
      ['/api/steer?prompt=hi', /latent is required/],
      ['/api/steer?latent=1&steps=500&prompt=hi', /steps must be a whole number from 1 to 48/],
    ] as const) {
      const res = await get(port, path);
      expect(res.status, path).toBe(400);
      expect(JSON.parse(res.body).error, path).toMatch(pattern);
    }
    expect((await get(port, '/api/live?text=hi', 'POST')).status).toBe(405);
    // at most 60 live requests a minute: the rest are 429 JSON naming the bound
    let ok = 0, refused: { status: number; body: string } | null = null;
    for (let i = 0; i < 70 && !refused; i++) {
      const res = await get(port, '/api/live?text=a');
      if (res.status === 200) ok++;
      else refused = res;
    }
    expect(refused?.status).toBe(429);
    expect(JSON.parse(refused!.body).error).toMatch(/at most 60 live requests a minute/);
    expect(ok).toBeLessThanOrEqual(60);
  });

  it('examples carry their token context with the latent\'s activation on every token; logit effects; token filter; comparison', async () => {
    const top = (await json(port, '/api/latents?sort=density&order=desc&limit=1')).items[0];
    const l = await json(port, `/api/latent/${top.id}`);
    const ex = l.examples[0];
    expect(ex.tokens.length).toBe(ex.acts.length);
    expect(ex.tokens.length).toBeGreaterThan(3);
    expect(ex.acts[ex.focus]).toBeCloseTo(ex.act, 5);
    expect(l.logits_top).toHaveLength(5);
    expect(l.logits_top[0].value).toBeGreaterThanOrEqual(l.logits_top[4].value);
    expect(l.logits_bottom[0].value).toBeLessThanOrEqual(l.logits_bottom[4].value);
    const tok = ex.tokens[ex.focus].trim().toLowerCase();
    const byTok = await json(port, `/api/latents?token=${encodeURIComponent(tok)}&limit=500`);
    expect(byTok.items.map((x: { id: number }) => x.id)).toContain(top.id);
    // compared with itself, a latent's best match is itself at cosine 1
    const c = await json(port, `/api/compare/${top.id}`);
    expect(c.matches[0].id).toBe(top.id);
    expect(c.matches[0].cos).toBeCloseTo(1, 5);
  });

  it.skipIf(!chromium)('the page in chromium: overview, search for a latent, its page with highlighted contexts (screenshot written)', async () => {
    const { chromium: pw } = await import('playwright-core');
    const browser = await pw.launch({ executablePath: chromium!, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector('text=configuration and metrics');
      expect(await page.locator('#title').textContent()).toMatch(/topk · 256 latents/);
      const top = (await json(port, '/api/latents?sort=density&order=desc&limit=1')).items[0];
      await page.click('text=latents');
      await page.waitForSelector('#search');
      await page.fill('#search', String(top.id));
      await page.click('button:has-text("go")');
      await page.waitForSelector(`tr.row[data-id="${top.id}"]`);
      expect(await page.locator('tr.row').count()).toBe(1);
      await page.click(`tr.row[data-id="${top.id}"]`);
      await page.waitForSelector('.examples .ctx');
      expect(await page.locator('h2').first().textContent()).toBe(`latent ${top.id}`);
      const hi = page.locator('.examples .ctx').first().locator('.tok.hi');
      expect(await hi.count()).toBeGreaterThan(0);
      expect(await page.locator('.examples .tok.focus').count()).toBeGreaterThan(0);
      const out = join(import.meta.dirname, 'output');
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: join(out, 'viewer-latent.png'), fullPage: true });
      console.log(`screenshot: ${join(out, 'viewer-latent.png')}`);
    } finally {
      await browser.close();
    }
  }, 60_000);
});

describe('the multi-run dashboard (saekit serve RUNS_DIR)', () => {
  let server: Server, port: number, dir: string;
  const line = (step: number): string => JSON.stringify({ step, tokens: step * 1024, loss: 1 / step, fvu: 1 / step, l0: 4, dead_fraction: 0, aux_loss: 0, lr: 1e-3, tokens_per_s: 1e5 }) + '\n';
  beforeAll(async () => {
    dir = tmp();
    // two finished runs of a sweep (one indexed), and one still running (its lock held by this process)
    for (const [name, k] of [['sweep/k=2', 2], ['sweep/k=4', 4]] as const) {
      const run = join(dir, name);
      const res = await train(be, parseTrainConfig({ data: 'synthetic:d=16,features=32,active=3', latents: 32, k, tokens: 20_000, batch: 1024 }), { out: run });
      writeFileSync(join(run, 'eval.json'), JSON.stringify({ tokens: 4096, fvu: k === 2 ? 0.4 : 0.2, l0: res.sae.cfg.k, never_fired_fraction: 0 }));
    }
    await indexRun(be, join(dir, 'sweep/k=4'), { tokens: 2048, top: 3, window: 2, neighbors: 2 });
    const live = join(dir, 'live');
    mkdirSync(live, { recursive: true });
    writeFileSync(join(live, 'config.json'), JSON.stringify({ arch: 'jumprelu', data: 'synthetic', tokens: 100_000, k: 0 }));
    writeFileSync(join(live, 'metrics.jsonl'), line(1) + line(2) + line(3));
    writeFileSync(join(live, '.lock'), JSON.stringify({ pid: process.pid, what: 'saekit train (test)' }));
    const { startDashboard } = await import('../src/viewer/dashboard.js');
    server = await startDashboard(be, dir, 0);
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server?.close());

  it('lists every run with its status and progress, marks the Pareto runs, serves an indexed run\'s viewer beneath it; unknown runs are 404', async () => {
    const r = await json(port, '/api/runs');
    const by = Object.fromEntries(r.runs.map((x: { name: string }) => [x.name, x]));
    expect(Object.keys(by).sort()).toEqual(['live', 'sweep/k=2', 'sweep/k=4']);
    expect(by.live).toMatchObject({ status: 'running', arch: 'jumprelu', steps: 3, tokens: 3072, target: 100_000 });
    expect(by['sweep/k=4']).toMatchObject({ status: 'finished', indexed: true, pareto: true, fvu: 0.2 });
    expect(by['sweep/k=2'].pareto).toBe(true); // lower L0, higher FVU: also on the frontier
    expect((await json(port, '/run/sweep/k=4/api/overview')).cfg.n).toBe(32);
    expect((await get(port, '/run/sweep/k=2/api/overview')).status).toBe(404);
    expect((await get(port, '/api/metrics?run=..%2F..%2Fetc')).status).toBe(404);
    expect((await get(port, '/plot/frontier.svg')).body).toMatch(/^<svg/);
  });

  it('with --graph: the graph page links each feature to its latent in its transcoder\'s viewer (where indexed); a file that is not a graph is refused by name', async () => {
    const { startDashboard } = await import('../src/viewer/dashboard.js');
    const { readGraphJson } = await import('../src/viewer/graph.js');
    const node = (id: string, sae: string, latent: number, layer: number) => ({ node_id: id, feature: latent, layer, ctx_idx: 1, feature_type: 'cross layer transcoder', activation: 1.5, influence: 0.2, sae, latent });
    const graph = {
      metadata: { prompt_tokens: ['<s>', 'Once'], target: 'L_5_1', replacement_score: 0.6, completeness_score: 0.8, prompt: 'Once' },
      nodes: [node('0_5_1', 'sweep/k=4', 5, 0), node('1_9_1', 'sweep/k=2', 9, 1),
        { node_id: 'E_1_0', layer: 'E', ctx_idx: 0, feature_type: 'embedding', influence: 0.5 }, { node_id: 'L_5_1', layer: '2', ctx_idx: 1, feature_type: 'logit', influence: 1, token_prob: 0.4, clerp: 'x' }],
      links: [{ source: '0_5_1', target: 'L_5_1', weight: 0.7 }, { source: 'E_1_0', target: '0_5_1', weight: -0.2 }],
    };
    const file = join(dir, 'graph.json');
    writeFileSync(file, JSON.stringify(graph));
    const g = await startDashboard(be, dir, 0, '127.0.0.1', {}, readGraphJson(file));
    try {
      const gp = (g.address() as { port: number }).port;
      const page = await get(gp, '/graph');
      expect(page.type).toMatch(/text\/html/);
      expect(page.body).toContain('href="/run/sweep/k=4/#/latent/5"');
      expect(page.body).not.toContain('#/latent/9');
      expect(page.body).toMatch(/1_9_1<\/td>.*not indexed/);
      expect((await json(gp, '/api/graph')).nodes).toHaveLength(4);
      expect((await json(gp, '/run/sweep/k=4/api/overview')).cfg.n).toBe(32);
      if (chromium) {
        const { chromium: pw } = await import('playwright-core');
        const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox', '--disable-gpu'] });
        try {
          const tab = await browser.newPage();
          await tab.goto(`http://127.0.0.1:${gp}/graph`);
          await tab.click('svg a');
          await tab.waitForSelector('text=latent 5');
          expect(tab.url()).toMatch(/\/run\/sweep\/k=4\/#\/latent\/5$/);
        } finally {
          await browser.close();
        }
      }
    } finally {
      g.close();
    }
    writeFileSync(file, JSON.stringify({ metadata: graph.metadata, links: [] }));
    expect(() => readGraphJson(file)).toThrow(/graph.json: not an attribution graph of saekit attribute: nodes:/);
  }, 60_000);

  it.skipIf(!chromium)('in chromium: the runs table, a running run\'s curves redrawn as metrics.jsonl grows, the frontier, a link to latents (screenshot)', async () => {
    const { chromium: pw } = await import('playwright-core');
    const browser = await pw.launch({ executablePath: chromium!, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      const errors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForSelector('tr.run[data-run="live"]');
      expect(await page.locator('tr.run').count()).toBe(3);
      expect(await page.locator('tr.run[data-run="live"] .status').textContent()).toBe('running');
      await page.click('tr.run[data-run="live"]');
      await page.waitForFunction(() => /^3 logged steps/.test(document.getElementById('steps')!.textContent!));
      const src = await page.locator('#curve').getAttribute('src');
      writeFileSync(join(dir, 'live', 'metrics.jsonl'), line(1) + line(2) + line(3) + line(4) + line(5));
      await page.waitForFunction(() => /^5 logged steps/.test(document.getElementById('steps')!.textContent!), undefined, { timeout: 10_000 });
      expect(await page.locator('#curve').getAttribute('src')).not.toBe(src);
      await page.waitForFunction(() => (document.getElementById('curve') as HTMLImageElement).complete && (document.getElementById('frontier') as HTMLImageElement).naturalWidth > 0);
      const out = join(import.meta.dirname, 'output');
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: join(out, 'dashboard.png'), fullPage: true });
      await page.click('tr.run[data-run="sweep/k=4"] a:has-text("latents")');
      await page.waitForSelector('text=configuration and metrics');
      expect(page.url()).toMatch(/\/run\/sweep\/k=4\/$/);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
