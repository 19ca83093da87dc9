/** `saekit index` (per-latent statistics into SQLite) and `saekit serve` (the feature viewer). */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { withLive } from '../app/live.js';
import { getBackend, type Backend } from '../compute/backend.js';
import { startDashboard } from '../viewer/dashboard.js';
import { readGraphJson } from '../viewer/graph.js';
import { indexRun } from '../viewer/index.js';
import { openSide, startServer, type ViewerSide } from '../viewer/server.js';
import { ViewerStore } from '../viewer/store.js';
import { intFlag } from './flags.js';

export function indexCommand(): Command {
  return new Command('index')
    .description('compute per-latent statistics for the viewer: density, quantiles, top contexts, neighbours, opposing partner, logit effects, ground-truth match')
    .argument('<run>', 'SAE folder')
    .option('--data <spec>', 'activations (default: the SAE\'s training data; held-out for synthetic and lm: data)')
    .option('--tokens <n>', 'rows to index', intFlag('--tokens', 1), 65536)
    .option('--top <n>', 'top examples per latent', intFlag('--top', 1, 10000), 12)
    .option('--window <n>', 'context tokens each side of an example', intFlag('--window', 0, 10000), 12)
    .option('--neighbors <n>', 'nearest latents by decoder cosine', intFlag('--neighbors', 1, 1000), 8)
    .option('--out <file>', 'database file (default RUN/viewer.sqlite; an existing viewer database there is replaced)')
    .option('--force', 'replace --out even if it is not a viewer database')
    .action(async (run: string, o: { data?: string; tokens: number; top: number; window: number; neighbors: number; out?: string; force?: boolean }) => {
      const t0 = performance.now();
      const res = await indexRun(getBackend(), run, { ...o, progress: true });
      console.log(`saekit: indexed ${res.latents} latents over ${res.rows} tokens into ${res.path} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    });
}

/** A database path from a run folder or a file. */
function dbPath(p: string): string {
  const path = existsSync(p) && statSync(p).isDirectory() ? join(p, 'viewer.sqlite') : p;
  if (!existsSync(path)) throw new Error(`${path}: no viewer database (run saekit index ${p} first)`);
  return path;
}

/** The side of an indexed SAE, with its model for live text and steering when the index names it. */
const side = (be: Backend, path: string): ViewerSide => withLive(be, openSide(new ViewerStore(dbPath(path))));

export function serveCommand(): Command {
  return new Command('serve')
    .description('browse an indexed SAE in a web page, or every run under a folder (a sweep) with live training curves (read-only; binds 127.0.0.1 unless --host is given)')
    .argument('<run>', 'SAE folder with viewer.sqlite, the database file, or a folder of runs')
    .option('--port <n>', 'port (0 = any free one)', intFlag('--port', 0, 65535), 8300)
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--compare <run>', 'a second indexed SAE for side-by-side comparison of matched latents')
    .option('--graph <file>', 'an attribution graph of saekit attribute on these transcoders (a --layers folder or a cross-layer transcoder): its page at /graph, each feature linked to its latent')
    .action(async (run: string, o: { port: number; host: string; compare?: string; graph?: string }) => {
      const be = getBackend();
      const graph = o.graph ? readGraphJson(o.graph) : undefined;
      const isFolderOfRuns = existsSync(run) && statSync(run).isDirectory() && !existsSync(join(run, 'viewer.sqlite')) && !existsSync(join(run, 'cfg.json'));
      if (isFolderOfRuns) {
        if (o.compare) throw new Error('--compare applies to one indexed SAE, not to a folder of runs');
        const server = await startDashboard(be, run, o.port, o.host, {}, graph);
        const addr = server.address();
        console.log(`saekit: serving the runs under ${run} at http://${o.host}:${typeof addr === 'object' && addr ? addr.port : o.port}/${graph ? ', the graph at /graph' : ''} (Ctrl-C to stop)`);
        return;
      }
      const main = side(be, run);
      const other = o.compare ? side(be, o.compare) : null;
      const server = await startServer(be, main, other, o.port, o.host, {}, graph);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : o.port;
      console.log(`saekit: serving ${main.run} at http://${o.host}:${port}/${main.live ? ' (live text and steering on its model)' : ''}${graph ? `, the graph at http://${o.host}:${port}/graph` : ''} (Ctrl-C to stop)`);
    });
}
