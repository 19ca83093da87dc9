/** Read-only queries over a viewer database: paged, indexed, parameterized. */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';

export const SORTS = ['id', 'density', 'max_act', 'mean_act'] as const;
export type Sort = (typeof SORTS)[number];

export interface LatentQuery {
  offset?: number;
  limit?: number;
  sort?: Sort;
  order?: 'asc' | 'desc';
  minDensity?: number;
  maxDensity?: number;
  /** latents whose top examples fire on this token (case-insensitive, trimmed) */
  token?: string;
  /** a latent id, or text matched against each latent's top token */
  q?: string;
}

export interface DensityHistogram {
  lo: number;
  hi: number;
  counts: number[];
  dead: number;
  /** log10 densities of the latents that fired, ascending */
  sorted: number[];
}

const SUMMARY = 'l.id, l.density, l.count, l.mean_act, l.max_act, l.top_token, l.truth_id, l.truth_cos';

export class ViewerStore {
  readonly path: string;
  #db: Database.Database;
  #hasSections: boolean;
  #densities: DensityHistogram | null = null;

  constructor(path: string) {
    if (!existsSync(path)) throw new Error(`${path}: no such viewer database (make one with saekit index RUN)`);
    this.path = path;
    this.#db = new Database(path, { readonly: true, fileMustExist: true });
    const ok = this.#db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'latents'").get();
    if (!ok) {
      this.#db.close();
      throw new Error(`${path}: not a saekit viewer database (no latents table)`);
    }
    this.#hasSections = (this.#db.prepare('PRAGMA table_info(examples)').all() as { name: string }[]).some((c) => c.name === 'section');
  }

  meta(): Record<string, unknown> {
    const rows = this.#db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value)]));
  }

  densities(): number[] {
    return (this.#db.prepare('SELECT density FROM latents').raw().all() as number[][]).map((r) => r[0]!);
  }

  latents(q: LatentQuery): { total: number; items: Record<string, unknown>[] } {
    const where: string[] = [], args: unknown[] = [];
    let from = 'latents l';
    if (q.token) {
      from = 'latent_tokens t JOIN latents l ON l.id = t.latent';
      where.push('t.token = ?');
      args.push(q.token.trim().toLowerCase());
    }
    if (q.q !== undefined && q.q !== '') {
      if (/^\d+$/.test(q.q)) { where.push('l.id = ?'); args.push(Number(q.q)); }
      else { where.push('l.top_token LIKE ?'); args.push(`%${q.q.replace(/[%_]/g, '')}%`); }
    }
    if (q.minDensity !== undefined) { where.push('l.density >= ?'); args.push(q.minDensity); }
    if (q.maxDensity !== undefined) { where.push('l.density <= ?'); args.push(q.maxDensity); }
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const sort = SORTS.includes(q.sort as Sort) ? q.sort! : 'id';
    const order = q.order === 'desc' ? 'DESC' : 'ASC';
    const limit = Math.max(1, Math.min(500, Math.floor(q.limit ?? 50))), offset = Math.max(0, Math.floor(q.offset ?? 0));
    const total = (this.#db.prepare(`SELECT COUNT(*) AS c FROM ${from} ${cond}`).get(...args) as { c: number }).c;
    const items = this.#db.prepare(`SELECT ${SUMMARY} FROM ${from} ${cond} ORDER BY l.${sort} ${order}, l.id LIMIT ? OFFSET ?`).all(...args, limit, offset) as Record<string, unknown>[];
    return { total, items };
  }

  /** The SAE's firing densities as a histogram of log10 density (latents that fired), for
   *  placing one latent among all; `dead` counts those that never fired. Computed once (the
   *  database is read-only). */
  densityHistogram(): DensityHistogram {
    if (this.#densities) return this.#densities;
    const bins = 40, all = this.densities();
    const logs = all.filter((v) => v > 0).map(Math.log10).sort((a, b) => a - b);
    const lo = logs.length ? Math.floor(logs[0]! * 2) / 2 : -6, hi = logs.length ? Math.ceil(logs[logs.length - 1]! * 2) / 2 + 1e-9 : 0;
    const counts = new Array(bins).fill(0), w = (hi - lo) / bins || 1;
    for (const v of logs) counts[Math.min(bins - 1, Math.floor((v - lo) / w))]++;
    return (this.#densities = { lo, hi, counts, dead: all.length - logs.length, sorted: logs });
  }

  /** The share of firing latents whose density is below `density` (null when none fired). */
  densityPercentile(density: number): number | null {
    const { sorted } = this.densityHistogram();
    if (!sorted.length) return null;
    if (!(density > 0)) return 0;
    const t = Math.log10(density);
    let lo = 0, hi = sorted.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid]! < t) lo = mid + 1; else hi = mid; }
    return lo / sorted.length;
  }

  latent(id: number): Record<string, unknown> | null {
    const row = this.#db.prepare('SELECT * FROM latents WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    if (!row) return null;
    for (const k of ['hist', 'neighbors', 'logits_top', 'logits_bottom', 'logit_hist', 'intervals']) if (typeof row[k] === 'string') row[k] = JSON.parse(row[k] as string);
    const nbs = row.neighbors as { id: number; cos: number }[];
    const dens = this.#db.prepare('SELECT id, density, top_token FROM latents WHERE id = ?');
    row.neighbors = nbs.map((x) => ({ ...x, ...(dens.get(x.id) as object) }));
    // databases written before interval examples have no section column: all their examples are top ones
    const section = this.#hasSections ? 'section' : '-1 AS section';
    const all = (this.#db.prepare(`SELECT ${section}, rank, act, row, tokens, acts, focus FROM examples WHERE latent = ? ORDER BY ${this.#hasSections ? 'section, ' : ''}rank`).all(id) as Record<string, unknown>[])
      .map((e) => ({ ...e, tokens: JSON.parse(e.tokens as string), acts: JSON.parse(e.acts as string) }) as Record<string, unknown>);
    row.examples = all.filter((e) => e.section === -1);
    const ranges = (row.intervals ?? []) as { lo: number; hi: number; share: number }[];
    row.intervals = ranges.map((r, q) => ({ ...r, examples: all.filter((e) => e.section === q) }));
    return row;
  }

  close(): void {
    this.#db.close();
  }
}
