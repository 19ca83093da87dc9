/**
 * `saekit serve RUNS_DIR`: every run under a folder (a sweep, or any folder of runs) on one
 * page, the local answer to a wandb project: each run's status (running / finished / stopped),
 * its progress and last logged metrics, its training curves redrawn from metrics.jsonl while it
 * grows, the folder's MSE–L0 plane with every evaluated run labelled and the Pareto-optimal
 * ones marked, and a run's latents (its viewer under /run/NAME/) when it has been indexed. With
 * an attribution graph of the folder's transcoders (a --layers folder), its page at /graph, each
 * feature linked to its latent in its layer's viewer.
 * Read-only, behind the same checks as the viewer (server.ts `listen`).
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { withLive } from '../app/live.js';
import type { Backend } from '../compute/backend.js';
import { lossCurveSpec, renderSvg, runsSpec } from '../eval/plots.js';
import { metricRows } from '../eval/report.js';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import { scanRuns, type RunSummary } from './runs.js';
import type { GraphJson } from './graph.js';
import { graphRoute, listen, openSide, viewerHandler, type Send, type ServerLimits } from './server.js';
import { ViewerStore } from './store.js';

export function startDashboard(be: Backend, dir: string, port: number, host = '127.0.0.1', limits: ServerLimits = {}, graph?: GraphJson): Promise<Server> {
  const viewers = new Map<string, (path: string, p: URLSearchParams, send: Send) => void>();
  const viewerOf = (r: RunSummary) => {
    let v = viewers.get(r.path);
    if (!v) viewers.set(r.path, (v = viewerHandler(be, withLive(be, openSide(new ViewerStore(join(r.path, 'viewer.sqlite')))), null)));
    return v;
  };
  return listen((path, p, send) => {
    const fail = (status: number, error: string): void => send(status, { error });
    if (path === '/' || path === '/index.html') return send(200, DASHBOARD_PAGE, 'text/html; charset=utf-8');
    const runs = scanRuns(dir);
    const named = (name: string | null): RunSummary | undefined => runs.find((r) => r.name === name);
    if (graph && graphRoute(graph, (n) => (named(n.sae ?? null)?.indexed && n.latent !== undefined ? `/run/${n.sae}/#/latent/${n.latent}` : null), path, send)) return;
    if (path === '/api/runs') return send(200, { dir, runs: runs.map(({ path: _path, ...r }) => r) });
    if (path === '/api/metrics') {
      const run = named(p.get('run'));
      if (!run) return fail(404, `no run ${JSON.stringify(p.get('run'))} under ${dir}`);
      return send(200, { run: run.name, status: run.status, rows: metricRows(run.path, 1000) });
    }
    if (path === '/plot/loss.svg') {
      const run = named(p.get('run'));
      if (!run) return fail(404, `no run ${JSON.stringify(p.get('run'))} under ${dir}`);
      renderSvg(lossCurveSpec(metricRows(run.path, 500), `${run.name}: training (${run.status})`)).then((svg) => send(200, svg, 'image/svg+xml'), (err: Error) => fail(500, err.message));
      return;
    }
    if (path === '/plot/frontier.svg') {
      const done = runs.filter((r) => r.l0 !== undefined && r.fvu !== undefined);
      renderSvg(runsSpec(done.map((r) => ({ run: r.name, arch: r.arch, l0: r.l0!, fvu: r.fvu!, pareto: r.pareto })), `FVU against L0: ${done.length} evaluated runs, Pareto-optimal ringed`))
        .then((svg) => send(200, svg, 'image/svg+xml'), (err: Error) => fail(500, err.message));
      return;
    }
    // a run's own viewer: /run/NAME/ and its API beneath (NAME may hold '/', for sweeps of sweeps)
    const run = runs.find((r) => path === `/run/${r.name}` || path.startsWith(`/run/${r.name}/`));
    if (run) {
      if (!run.indexed) return fail(404, `${run.name} has no viewer.sqlite (run saekit index ${run.path})`);
      return viewerOf(run)(path.slice(`/run/${run.name}`.length) || '/', p, send);
    }
    return fail(404, 'not found');
  }, port, host, limits);
}
