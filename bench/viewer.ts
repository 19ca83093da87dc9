/**
 * Viewer benchmark: index an SAE with 262,144 latents (random, d=64) over synthetic data, then
 * time the server's answers: latent pages at random ids, and sorted, filtered list pages deep
 * in the list. Target: a latent page in under 200 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../src/compute/backend.js';
import { saveSae } from '../src/sae/folder.js';
import { Rng } from '../src/util/rng.js';
import { indexRun } from '../src/viewer/index.js';
import { openSide, startServer } from '../src/viewer/server.js';
import { ViewerStore } from '../src/viewer/store.js';
import { fmt } from './timing.js';

type Report = (what: string, value: string, note?: string) => void;

function timeGet(port: number, path: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${path}: ${res.statusCode}`))));
    }).on('error', reject).end();
  });
}

export async function benchViewer(be: Backend, quick: boolean, report: Report): Promise<void> {
  const n = quick ? 32768 : 262144, d = 64, k = 32;
  const dir = mkdtempSync(join(tmpdir(), 'saekit-bench-viewer-'));
  try {
    const rng = new Rng(3);
    const W_dec = rng.normals(n * d);
    be.normalizeRows(W_dec, n, d);
    saveSae(dir, {
      cfg: { format: 'saekit-sae', arch: 'topk', d, n, k, multiTopK: false, data: 'synthetic:d=64,features=512,active=8' },
      params: { W_enc: Float32Array.from(W_dec), b_enc: new Float32Array(n), W_dec, b_dec: new Float32Array(d) },
    });
    const t0 = performance.now();
    await indexRun(be, dir, { tokens: 16384, top: 12, window: 12, neighbors: 8 });
    report(`viewer index, ${n} latents x 16,384 tokens`, `${fmt((performance.now() - t0) / 1000)} s`, 'neighbours by blocked GEMM, opposing partners, truth match, SQLite');
    const server = await startServer(be, openSide(new ViewerStore(join(dir, 'viewer.sqlite'))), null, 0);
    const port = (server.address() as { port: number }).port;
    try {
      const times = async (paths: string[]): Promise<{ median: number; max: number }> => {
        await timeGet(port, paths[0]!);
        const t: number[] = [];
        for (const p of paths) t.push(await timeGet(port, p));
        t.sort((a, b) => a - b);
        return { median: t[Math.floor(t.length / 2)]!, max: t[t.length - 1]! };
      };
      const ids = Array.from({ length: 50 }, () => `/api/latent/${rng.int(n)}`);
      const lat = await times(ids);
      report(`latent page at ${n} latents (50 random ids)`, `${fmt(lat.median)} ms`, `median; max ${fmt(lat.max)} ms; target < 200 ms`);
      const lists = Array.from({ length: 20 }, (_, i) => `/api/latents?sort=density&order=desc&limit=50&offset=${(i * 9973) % (n - 50)}`);
      const list = await times(lists);
      report('  sorted list page deep in the list', `${fmt(list.median)} ms`, `median; max ${fmt(list.max)} ms`);
      const filt = await times(Array.from({ length: 20 }, (_, i) => `/api/latents?minDensity=0.0001&maxDensity=0.01&sort=max_act&order=desc&limit=50&offset=${i * 50}`));
      report('  density-filtered, sorted by max activation', `${fmt(filt.median)} ms`, `median; max ${fmt(filt.max)} ms`);
    } finally {
      server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
