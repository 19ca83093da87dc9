/**
 * `saekit serve`: a read-only HTTP server over a viewer database (127.0.0.1 by default). One
 * page (page.ts) and a small JSON API; no route reads a path taken from the request, unknown
 * routes and ids answer 404 JSON, and anything but GET answers 405.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { basename, dirname, join } from 'node:path';
import type { Backend } from '../compute/backend.js';
import { densitySpec, lineSpec, lossCurveSpec, renderSvg } from '../eval/plots.js';
import { type Sae } from '../sae/common.js';
import { loadSae } from '../sae/folder.js';
import { decoderMatches, decoderWidth } from '../sae/geometry.js';
import { PAGE } from './page.js';
import { SORTS, type Sort, type ViewerStore } from './store.js';

export interface ViewerSide {
  store: ViewerStore;
  /** the run folder the database indexes (for cfg.json, eval.json, metrics.jsonl and siblings) */
  run: string;
  sae: Sae;
}

export function openSide(store: ViewerStore): ViewerSide {
  const run = String(store.meta().run ?? dirname(store.path));
  if (!existsSync(join(run, 'cfg.json'))) throw new Error(`${store.path}: indexes ${run}, which is not an SAE folder any more`);
  return { store, run, sae: loadSae(run) };
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

/** The run's training curve, sampled to at most 500 points. */
function lossRows(run: string): { tokens: number; fvu: number; dead_fraction: number }[] {
  const p = join(run, 'metrics.jsonl');
  if (!existsSync(p)) return [];
  const rows = readFileSync(p, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { tokens: number; fvu: number; dead_fraction: number });
  const every = Math.max(1, Math.ceil(rows.length / 500));
  return rows.filter((_, i) => i % every === 0 || i === rows.length - 1);
}

/** (L0, FVU) of every run beside this one that has an eval.json. */
function siblings(run: string): { run: string; l0: number; fvu: number }[] {
  const parent = dirname(run);
  const out: { run: string; l0: number; fvu: number }[] = [];
  for (const name of readdirSync(parent)) {
    const ev = readJson(join(parent, name, 'eval.json')) as { l0?: number; fvu?: number } | null;
    if (ev && typeof ev.l0 === 'number' && typeof ev.fvu === 'number') out.push({ run: name, l0: ev.l0, fvu: ev.fvu });
  }
  return out.sort((a, b) => a.l0 - b.l0);
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
class BadQuery extends Error {}

/** How long a client may take to send its headers and its whole request, and how many
 *  connections are served at once (a slow or flooding client cannot hold the viewer). */
export interface ServerLimits {
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxConnections?: number;
}

type Send = (status: number, body: unknown, type?: string) => void;

/** The run's plots, rendered once each on first request; null for an unknown name. */
function plotCache(main: ViewerSide): (name: string) => Promise<string> | null {
  const plots = new Map<string, Promise<string>>();
  return (name) => {
    if (!plots.has(name)) {
      const title = basename(main.run);
      if (name === 'loss.svg') plots.set(name, renderSvg(lossCurveSpec(lossRows(main.run), `${title}: training`)));
      else if (name === 'density.svg') plots.set(name, renderSvg(densitySpec(Float64Array.from(main.store.densities()), `${title}: firing density`)));
      else if (name === 'frontier.svg') {
        plots.set(name, renderSvg(lineSpec(siblings(main.run).map((s) => ({ ...s, series: 'runs beside this one' })),
          { x: 'l0', y: 'fvu', series: 'series', title: 'FVU against L0 (eval.json of sibling runs)', xTitle: 'L0 (log)', yTitle: 'FVU (log)', logX: true, logY: true })));
      } else return null;
    }
    return plots.get(name)!;
  };
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

/** Answers one routed GET. */
function route(be: Backend, main: ViewerSide, other: ViewerSide | null, plot: (name: string) => Promise<string> | null, path: string, p: URLSearchParams, send: Send): void {
  const fail = (status: number, error: string): void => send(status, { error });
  const num = (k: string): number | undefined => (p.has(k) && p.get(k) !== '' && Number.isFinite(Number(p.get(k))) ? Number(p.get(k)) : undefined);
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = p.get(k);
    if (v === null || v === '') return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new BadQuery(`${k} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  if (path === '/' || path === '/index.html') return send(200, PAGE, 'text/html; charset=utf-8');
  if (path === '/api/overview') {
    return send(200, { meta: main.store.meta(), cfg: main.sae.cfg, eval: readJson(join(main.run, 'eval.json')), compare: other ? other.run : null });
  }
  if (path === '/api/latents') {
    const sort = p.get('sort') ?? 'id';
    if (!SORTS.includes(sort as Sort)) return fail(400, `sort must be one of ${SORTS.join(', ')}`);
    return send(200, main.store.latents({
      offset: int('offset', 0, main.sae.cfg.n), limit: int('limit', 1, 500), sort: sort as Sort, order: p.get('order') === 'desc' ? 'desc' : 'asc',
      minDensity: num('minDensity'), maxDensity: num('maxDensity'), token: p.get('token') || undefined, q: p.get('q') ?? undefined,
    }));
  }
  let m = /^\/api\/latent\/(\d+)$/.exec(path);
  if (m) {
    const row = main.store.latent(Number(m[1]));
    return row ? send(200, row) : fail(404, `no latent ${m[1]} (this SAE has ${main.sae.cfg.n})`);
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

export function startServer(be: Backend, main: ViewerSide, other: ViewerSide | null, port: number, host = '127.0.0.1', limits: ServerLimits = {}): Promise<Server> {
  if (other) {
    const [a, b] = [decoderWidth(main.sae), decoderWidth(other.sae)];
    if (a !== b) {
      throw new Error(`--compare ${other.run}: its decoder writes vectors of width ${b}, ${main.run}'s of width ${a}; decoder directions can only be compared at the same width`);
    }
  }
  const plot = plotCache(main);
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
      route(be, main, other, plot, path, url.searchParams, send);
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
