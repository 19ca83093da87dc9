/**
 * `saekit serve`: a read-only HTTP server over a viewer database (127.0.0.1 by default). One
 * page (page.ts) and a small JSON API; no route reads a path taken from the request, unknown
 * routes and ids answer 404 JSON, and anything but GET answers 405. When the SAE's model is
 * known, live endpoints run it on typed text and steer it (bounded, one request at a time).
 */
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { basename, dirname, join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import type { LiveModel } from '../app/live.js';
import { LIVE_CHARS, LIVE_STEPS } from '../app/live.js';
import { densitySpec, lossCurveSpec, renderSvg, runsSpec } from '../eval/plots.js';
import { metricRows } from '../eval/report.js';
import { readJsonOrNull } from '../io/json.js';
import { type Sae } from '../sae/common.js';
import { loadSae } from '../sae/folder.js';
import { decoderMatches, decoderWidth } from '../sae/geometry.js';
import { graphPage, type GraphJson, type NodeHref } from './graph.js';
import { PAGE } from './page.js';
import { scanRuns } from './runs.js';
import { SORTS, type Sort, type ViewerStore } from './store.js';

export interface ViewerSide {
  store: ViewerStore;
  /** the run folder the database indexes (for cfg.json, eval.json, metrics.jsonl and siblings) */
  run: string;
  sae: Sae;
  /** the model behind the SAE, opened on the first live request (absent when unknown) */
  live?: () => Promise<LiveModel>;
}

export function openSide(store: ViewerStore, live?: () => Promise<LiveModel>): ViewerSide {
  const run = String(store.meta().run ?? dirname(store.path));
  if (!existsSync(join(run, 'cfg.json'))) throw new Error(`${store.path}: indexes ${run}, which is not an SAE folder any more`);
  return { store, run, sae: loadSae(run), ...(live ? { live } : {}) };
}

/** The names a request may use for this server: the bound address, and the loopback names
 *  when it is bound to loopback (or to all addresses), each with the port. */
function hostAllowed(header: string | undefined, bound: string, port: number | undefined): boolean {
  if (!header || port === undefined) return false;
  const loopback = ['127.0.0.1', 'localhost', '[::1]'];
  const names = new Set([bound.includes(':') && !bound.startsWith('[') ? `[${bound}]` : bound]);
  if (['127.0.0.1', 'localhost', '::1', '0.0.0.0', '::'].includes(bound)) for (const l of loopback) names.add(l);
  return [...names].some((n) => header.toLowerCase() === `${n}:${port}`);
}

/** host:port of an Origin header (null when it is not a URL). */
function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** A query parameter out of its range: answered 400 naming it. */
export class BadQuery extends Error {}

/** How long a client may take to send its headers and its whole request, and how many
 *  connections are served at once (a slow or flooding client cannot hold the viewer). */
export interface ServerLimits {
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxConnections?: number;
}

export type Send = (status: number, body: unknown, type?: string) => void;

/** The run's plots, rendered once each on first request; null for an unknown name. */
function plotCache(main: ViewerSide): (name: string) => Promise<string> | null {
  const plots = new Map<string, Promise<string>>();
  return (name) => {
    if (!plots.has(name)) {
      const title = basename(main.run);
      if (name === 'loss.svg') plots.set(name, renderSvg(lossCurveSpec(metricRows(main.run, 500), `${title}: training`)));
      else if (name === 'density.svg') plots.set(name, renderSvg(densitySpec(Float64Array.from(main.store.densities()), `${title}: firing density`)));
      else if (name === 'frontier.svg') plots.set(name, renderSvg(siblingsSpec(main.run)));
      else return null;
    }
    return plots.get(name)!;
  };
}

/** The runs beside this one with a held-out result, labelled, this one marked. */
export function siblingsSpec(run: string, current = basename(run)) {
  const runs = scanRuns(dirname(run)).filter((r) => r.l0 !== undefined && r.fvu !== undefined);
  return runsSpec(runs.map((r) => ({ run: r.name, arch: r.arch, l0: r.l0!, fvu: r.fvu!, pareto: r.pareto, current: r.name === current })),
    `FVU against L0: the ${runs.length} evaluated runs in ${basename(dirname(run)) || dirname(run)}`);
}

/** Why a request is refused before routing (DNS rebinding, a foreign origin, a write), or null.
 *  A page on another site that resolves its name to this machine sends its own name as Host
 *  (and Origin); only the names this server is reached by are answered. */
function refusal(req: IncomingMessage, host: string, port: number | undefined): [number, string] | null {
  if (!hostAllowed(req.headers.host, host, port)) return [403, `Host ${JSON.stringify(req.headers.host ?? '')} is not this viewer's address`];
  const origin = req.headers.origin;
  if (origin !== undefined && !hostAllowed(originHost(origin), host, port)) return [403, `Origin ${JSON.stringify(origin)} is not this viewer`];
  if (req.method !== 'GET' && req.method !== 'HEAD') return [405, 'read-only: only GET is served'];
  return null;
}

/** One live request at a time, and at most LIVE_PER_MINUTE a minute. */
const LIVE_PER_MINUTE = 60;
class LiveGate {
  #busy = false;
  #recent: number[] = [];
  /** null when admitted (call done() after), else why not */
  enter(): string | null {
    if (this.#busy) return 'busy: the model answers one live request at a time; try again when the last one is done';
    const now = Date.now();
    this.#recent = this.#recent.filter((t) => now - t < 60_000);
    if (this.#recent.length >= LIVE_PER_MINUTE) return `at most ${LIVE_PER_MINUTE} live requests a minute`;
    this.#recent.push(now);
    this.#busy = true;
    return null;
  }
  done(): void {
    this.#busy = false;
  }
}

/** Query parameters, checked: a value out of range is a BadQuery naming it. */
function params(p: URLSearchParams) {
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = p.get(k);
    if (v === null || v === '') return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new BadQuery(`${k} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const real = (k: string, min: number, max: number): number | undefined => {
    const v = p.get(k);
    if (v === null || v === '') return undefined;
    if (!Number.isFinite(Number(v)) || Number(v) < min || Number(v) > max) throw new BadQuery(`${k} must be a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const text = (k: string, max: number): string => {
    const v = p.get(k) ?? '';
    if (v.length > max) throw new BadQuery(`${k} must be at most ${max} characters, got ${v.length}`);
    return v;
  };
  const num = (k: string): number | undefined => (p.has(k) && p.get(k) !== '' && Number.isFinite(Number(p.get(k))) ? Number(p.get(k)) : undefined);
  return { int, real, text, num };
}

/** A latent's row with where its density falls among the SAE's latents. */
function latentRow(side: ViewerSide, id: number): Record<string, unknown> | null {
  const row = side.store.latent(id);
  return row ? { ...row, density_percentile: side.store.densityPercentile(row.density as number) } : null;
}

/** Answers one routed GET. */
function route(be: Backend, main: ViewerSide, other: ViewerSide | null, plot: (name: string) => Promise<string> | null, gate: LiveGate,
  path: string, p: URLSearchParams, send: Send): void {
  const fail = (status: number, error: string): void => send(status, { error });
  const { int, real, text, num } = params(p);
  if (path === '/' || path === '/index.html') return send(200, PAGE, 'text/html; charset=utf-8');
  if (path === '/api/overview') {
    return send(200, { meta: main.store.meta(), cfg: main.sae.cfg, eval: readJsonOrNull(join(main.run, 'eval.json')), compare: other ? other.run : null });
  }
  if (path === '/api/latents') {
    const sort = p.get('sort') ?? 'id';
    if (!SORTS.includes(sort as Sort)) return fail(400, `sort must be one of ${SORTS.join(', ')}`);
    return send(200, main.store.latents({
      offset: int('offset', 0, main.sae.cfg.n), limit: int('limit', 1, 500), sort: sort as Sort, order: p.get('order') === 'desc' ? 'desc' : 'asc',
      minDensity: num('minDensity'), maxDensity: num('maxDensity'), token: p.get('token') || undefined, q: p.get('q') ?? undefined,
    }));
  }
  let m = /^\/api\/(other\/)?latent\/(\d+)$/.exec(path);
  if (m) {
    const side = m[1] ? other : main;
    if (!side) return fail(404, 'no SAE to compare with (start saekit serve with --compare DB)');
    const row = latentRow(side, Number(m[2]));
    return row ? send(200, row) : fail(404, `no latent ${m[2]} (this SAE has ${side.sae.cfg.n})`);
  }
  if (path === '/api/densities') {
    const { sorted: _sorted, ...h } = main.store.densityHistogram();
    return send(200, h);
  }
  if (path === '/api/live' || path === '/api/steer') {
    if (!main.live) return fail(404, 'no model: this index was not made from a language model\'s activations, so there is nothing to run live');
    const n = main.sae.cfg.n;
    const job = path === '/api/live'
      ? { text: text('text', LIVE_CHARS), latent: int('latent', 0, n - 1) }
      : { prompt: text('prompt', LIVE_CHARS), latent: int('latent', 0, n - 1), scale: real('scale', -1000, 1000) ?? 10, steps: int('steps', 1, LIVE_STEPS) ?? 24 };
    if (path === '/api/steer' && job.latent === undefined) throw new BadQuery('latent is required');
    const refused = gate.enter();
    if (refused) return send(429, { error: refused });
    main.live().then((live) => {
      if ('text' in job && job.text !== undefined) send(200, { model: live.describe, ...live.text(job.text, job.latent) });
      else if ('prompt' in job && job.prompt !== undefined) send(200, { model: live.describe, prompt: job.prompt, latent: job.latent, scale: job.scale, ...live.steer(job.prompt, job.latent!, job.scale, job.steps) });
    }).catch((err: Error) => fail(err instanceof RangeError ? 400 : 500, err.message)).finally(() => gate.done());
    return;
  }
  m = /^\/api\/compare\/(\d+)$/.exec(path);
  if (m) {
    if (!other) return fail(404, 'no SAE to compare with (start saekit serve with --compare DB)');
    const id = Number(m[1]);
    const row = main.store.latent(id);
    if (!row) return fail(404, `no latent ${id}`);
    const matches = decoderMatches(be, main.sae, id, other.sae).map((x) => ({ ...x, latent: other.store.latent(x.id) }));
    return send(200, { run: main.run, other: other.run, latent: row, matches });
  }
  m = /^\/plot\/([a-z]+\.svg)$/.exec(path);
  if (m) {
    const svg = plot(m[1]!);
    if (!svg) return fail(404, 'no such plot');
    svg.then((s) => send(200, s, 'image/svg+xml'), (err: Error) => fail(500, err.message));
    return;
  }
  return fail(404, 'not found');
}

export function startServer(be: Backend, main: ViewerSide, other: ViewerSide | null, port: number, host = '127.0.0.1', limits: ServerLimits = {}, graph?: GraphJson): Promise<Server> {
  if (other) {
    const [a, b] = [decoderWidth(main.sae), decoderWidth(other.sae)];
    if (a !== b) {
      throw new Error(`--compare ${other.run}: its decoder writes vectors of width ${b}, ${main.run}'s of width ${a}; decoder directions can only be compared at the same width`);
    }
  }
  return listen(viewerHandler(be, main, other, graph), port, host, limits);
}

/** The viewer's routes over one indexed SAE (and an optional second to compare with); with an
 *  attribution graph of this SAE's features (a cross-layer transcoder's), its page at /graph. */
export function viewerHandler(be: Backend, main: ViewerSide, other: ViewerSide | null, graph?: GraphJson): (path: string, p: URLSearchParams, send: Send) => void {
  const plot = plotCache(main), gate = new LiveGate();
  return (path, p, send) => {
    if (graph && graphRoute(graph, (n) => (n.sae === '.' && n.latent !== undefined ? `./#/latent/${n.latent}` : null), path, send)) return;
    route(be, main, other, plot, gate, path, p, send);
  };
}

/** The graph page (/graph) and its JSON (/api/graph); false for other paths. */
export function graphRoute(graph: GraphJson, href: NodeHref, path: string, send: Send): boolean {
  if (path === '/graph') send(200, graphPage(graph, href), 'text/html; charset=utf-8');
  else if (path === '/api/graph') send(200, graph);
  else return false;
  return true;
}

/** An HTTP server answering GETs through `handle`, behind the checks every saekit page shares:
 *  its own Host and Origin only, GET or HEAD only, no '..' or NUL in a path, a 400 JSON for a
 *  BadQuery and 500 JSON for anything else thrown, bounded header and request times. */
export function listen(handle: (path: string, p: URLSearchParams, send: Send) => void, port: number, host = '127.0.0.1', limits: ServerLimits = {}): Promise<Server> {
  const headersTimeout = limits.headersTimeoutMs ?? 10_000;
  const server = createServer({
    headersTimeout, requestTimeout: limits.requestTimeoutMs ?? 30_000, keepAliveTimeout: 5_000,
    // how often the timeouts are checked (Node's default, 30 s, would let a slow client stay that long)
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, headersTimeout / 4)),
  }, (req, res) => {
    const send: Send = (status, body, type = 'application/json; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const fail = (status: number, error: string): void => send(status, { error });
    try {
      const refused = refusal(req, host, (server.address() as { port: number } | null)?.port);
      if (refused) return fail(...refused);
      const url = new URL(req.url ?? '/', 'http://localhost');
      let path: string;
      try {
        path = decodeURIComponent(url.pathname);
      } catch {
        return fail(400, 'malformed path');
      }
      if (path.includes('..') || path.includes('\0')) return fail(404, 'not found');
      handle(path, url.searchParams, send);
    } catch (err) {
      fail(err instanceof BadQuery ? 400 : 500, (err as Error).message);
    }
  });
  server.maxConnections = limits.maxConnections ?? 256;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
