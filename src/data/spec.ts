/**
 * The data spec (docs/design.md §5.1), parsed once at the boundary into a tagged union:
 *   synthetic[:key=number,...]     the built-in source with known truth
 *   lm:key=value,...               a live model forward over a corpus
 *   PATH.safetensors               one file with an `activations` tensor
 *   PATH                           a shard folder (manifest.json + shard-NNNNN.safetensors)
 * with one canonical string form (formatDataSpec), the one held-out rule (heldOut) and the one
 * way to open a source (openData).
 */
import type { Backend } from '../compute/backend.js';
import { formatLmSpec, LmSpec, openLmSource, parseLmSpec } from './lm.js';
import { JoinedTargets, SplitTargets } from './pairs.js';
import { readManifest, ShardOrigin, ShardSource } from './shards.js';
import { RankSlice } from './rank-slice.js';
import { ShuffleBuffer } from './shuffle.js';
import type { ActivationSource } from './source.js';
import { parseSyntheticSpec, SyntheticOptions, SyntheticSource } from './synthetic.js';
import { seedFor } from '../util/rng.js';

export type DataSpec =
  /** `given`: the options the spec names (defaults apply to the rest) */
  | { kind: 'synthetic'; given: Partial<SyntheticOptions> }
  | { kind: 'lm'; lm: LmSpec }
  /** rows: a range of the set's rows, `PATH#start:end` (either end may be left out) */
  | { kind: 'file'; path: string; rows?: RowRange }
  | { kind: 'shards'; path: string; rows?: RowRange };

export interface RowRange {
  start?: number;
  end?: number;
}

const isSynthetic = (s: string): boolean => s === 'synthetic' || s.startsWith('synthetic:');

/** Parses a --data string; `flag` names where it came from in errors. */
export function parseDataSpec(s: string, flag = '--data'): DataSpec {
  if (typeof s !== 'string' || s.trim() === '') throw new Error(`${flag}: empty data spec (expected synthetic[:key=value,...], lm:..., a shard folder or a .safetensors file)`);
  if (isSynthetic(s)) return { kind: 'synthetic', given: parseSyntheticSpec(s, flag) };
  if (s.startsWith('lm:')) return { kind: 'lm', lm: parseLmSpec(s, flag) };
  const m = /^(.*)#(\d*):(\d*)$/.exec(s);
  const path = m ? m[1]! : s;
  const rows: RowRange | undefined = m ? { ...(m[2] ? { start: Number(m[2]) } : {}), ...(m[3] ? { end: Number(m[3]) } : {}) } : undefined;
  const kind = path.endsWith('.safetensors') ? 'file' as const : 'shards' as const;
  return rows ? { kind, path, rows } : { kind, path };
}

/** The one canonical string of a spec (what cfg.json records; parseDataSpec reads it back). */
export function formatDataSpec(spec: DataSpec): string {
  switch (spec.kind) {
    case 'synthetic': {
      const keys = Object.keys(SyntheticOptions.def.shape ?? {}) as (keyof SyntheticOptions)[];
      const parts = keys.filter((k) => spec.given[k] !== undefined).map((k) => `${k}=${spec.given[k]}`);
      return parts.length ? `synthetic:${parts.join(',')}` : 'synthetic';
    }
    case 'lm': return formatLmSpec(spec.lm);
    case 'file': case 'shards': return spec.rows ? `${spec.path}#${spec.rows.start ?? ''}:${spec.rows.end ?? ''}` : spec.path;
    default: throw new Error(`unknown data spec ${String(spec satisfies never)}`);
  }
}

/** A data string in canonical form (errors name `flag`). */
export const canonicalData = (s: string, flag = '--data'): string => formatDataSpec(parseDataSpec(s, flag));

/**
 * The one held-out rule. The held-out part of data is synthetic stream 1 (same features, other
 * rows) and, for a live model, the corpus's last contexts holding `tokens` rows. A spec that
 * names its part (stream=, from=) keeps it, unless `force` (the SAE's own training data, which
 * is the training part by definition). A run trained on rows [start, end) of shards or a file
 * holds out the rows after `end` (train reserves such a tail, app/train.ts); otherwise shards
 * and files have no held-out part: they are returned as they are, and `heldOutPart` says so.
 */
export function heldOut(spec: DataSpec, tokens: number, o: { force?: boolean } = {}): { spec: DataSpec; heldOutPart: boolean } {
  switch (spec.kind) {
    case 'synthetic':
      if (spec.given.stream !== undefined && !o.force) return { spec, heldOutPart: spec.given.stream !== 0 };
      return { spec: { kind: 'synthetic', given: { ...spec.given, stream: 1 } }, heldOutPart: true };
    case 'lm':
      if (spec.lm.from !== undefined && !o.force) return { spec, heldOutPart: spec.lm.from === 'end' };
      return { spec: { kind: 'lm', lm: { ...spec.lm, from: 'end', tokens } }, heldOutPart: true };
    default:
      // a run trained on rows [start, end) of a set holds out the rows after them
      if (o.force && spec.rows?.end !== undefined) return { spec: { kind: spec.kind, path: spec.path, rows: { start: spec.rows.end } }, heldOutPart: true };
      return { spec, heldOutPart: false };
  }
}

/** The data to evaluate an SAE on, by the held-out rule: `own` data (the SAE's recorded
 *  training data) always gives its held-out part; data the user names keeps a part it names. */
export function evaluationData(data: string, tokens: number, own: boolean, flag = '--data'): { spec: DataSpec; heldOutPart: boolean } {
  return heldOut(parseDataSpec(data, flag), tokens, { force: own });
}

/** The rows of the 'auto' shuffle buffer: none for synthetic data (independent rows), else
 *  up to 262,144 rows and 512 MB. */
export function autoShuffleRows(spec: DataSpec, d: number, dOut = 0): number | 'none' {
  if (spec.kind === 'synthetic') return 'none';
  return Math.max(1024, Math.min(262_144, Math.floor(2 ** 29 / (4 * (d + dOut)))));
}

/** Opens a source; `shuffle` rows (a transcoder's with their targets) through a buffer. */
/** Opens a spec's rows. With `rank` (--parallel data): that rank's slice [lo, hi) of every block
 *  of `block` rows (the global batch), shuffled by a buffer of its own with a seed of its own. */
export async function openData(spec: DataSpec, be: Backend,
  o: { shuffle?: 'none' | 'auto' | number; seed?: number; rank?: { rank: number; block: number; lo: number; hi: number } } = {}): Promise<ActivationSource> {
  let base: ActivationSource;
  switch (spec.kind) {
    case 'synthetic': base = new SyntheticSource(spec.given, be); break;
    case 'lm': base = await openLmSource(spec.lm, be); break;
    case 'file': case 'shards': base = new ShardSource(spec.path, spec.rows); break;
    default: throw new Error(`unknown data spec ${String(spec satisfies never)}`);
  }
  if (o.rank) base = new RankSlice(base, o.rank.block, o.rank.lo, o.rank.hi);
  return shuffled(base, spec, o.shuffle, o.rank && o.rank.rank > 0 ? seedFor(o.seed ?? 0, `data-rank-${o.rank.rank}`) : o.seed ?? 0);
}

/** A spec's rows through the shuffle buffer it asks for ('auto': none for synthetic data, else
 *  a buffer sized by autoShuffleRows); a transcoder's targets travel with their inputs. */
export function shuffled(base: ActivationSource, spec: DataSpec, asked: 'none' | 'auto' | number | undefined, seed: number): ActivationSource {
  const shuffle = asked === 'auto' ? autoShuffleRows(spec, base.d, base.dOut) : asked ?? 'none';
  if (shuffle === 'none') return base;
  return base.dOut ? new SplitTargets(new ShuffleBuffer(new JoinedTargets(base), shuffle, seed), base.d, base.dOut) : new ShuffleBuffer(base, shuffle, seed);
}

/** The origin a live model's rows record (extract writes it into the manifest). */
export function lmOrigin(s: LmSpec): ShardOrigin {
  return {
    model: s.model, corpus: s.corpus, layer: s.layer, site: s.site, ...(s.targetSite ? { target_site: s.targetSite } : {}), ctx: s.ctx,
    exclude_bos: s.excludeBos === 1, text_field: s.textField, sep: s.sep ?? '\n\n',
  };
}

/** Where the rows of a spec came from when a model made them: the live spec itself, or a
 *  shard manifest's `source` (null for synthetic data, missing paths and bare files). */
export function dataOrigin(spec: DataSpec): ShardOrigin | null {
  if (spec.kind === 'lm') return lmOrigin(spec.lm);
  if (spec.kind === 'shards' || spec.kind === 'file') {
    try {
      return readManifest(spec.path).manifest.source;
    } catch {
      return null;
    }
  }
  return null;
}

/** What the rows of data are, for telling whether two runs or an SAE and its evaluation data
 *  are about the same activations: a model's layer and site, else the synthetic spec or the
 *  path (row ranges left out: they are parts of the same set). */
export function dataIdentity(data: string): string {
  let spec: DataSpec;
  try {
    spec = parseDataSpec(data);
  } catch {
    return data;
  }
  const site = siteOf(spec);
  if (site) return formatSite(site);
  if (spec.kind === 'synthetic') return formatDataSpec({ kind: 'synthetic', given: { ...SyntheticOptions.parse(spec.given), stream: undefined } });
  if (spec.kind === 'lm') return formatDataSpec(spec);
  return spec.path;
}

export interface DataSite {
  model: string;
  layer: number;
  site: string;
}

/** The model, layer and hook site an origin names, when it names all three. */
export function originSite(o: ShardOrigin | null): DataSite | null {
  if (!o || o.model === undefined || o.layer === undefined || o.site === undefined) return null;
  return { model: String(o.model), layer: Number(o.layer), site: String(o.site) };
}

/** The model, layer and hook site rows come from, when the data says. */
export const siteOf = (spec: DataSpec): DataSite | null => originSite(dataOrigin(spec));

export const formatSite = (s: DataSite): string => `${s.model} layer ${s.layer} ${s.site}`;

/** The model behind data, as an lm spec, with overrides (eval --model, index): the origin's
 *  corpus, layer, site and packing unless given. A missing field is named as its flag. */
export function lmSpecFromOrigin(origin: ShardOrigin | null, given: Partial<LmSpec>, dataName: string): LmSpec {
  const o = origin ?? {};
  const got = LmSpec.safeParse({
    model: given.model ?? o.model, corpus: given.corpus ?? o.corpus, layer: given.layer ?? o.layer, site: given.site ?? o.site,
    ctx: given.ctx ?? o.ctx, excludeBos: o.exclude_bos === false ? 0 : 1, textField: o.text_field, sep: o.sep, from: given.from, tokens: given.tokens,
    targetSite: given.targetSite ?? o.target_site,
  });
  if (!got.success) {
    const issue = got.error.issues[0]!;
    const flag = String(issue.path[0] ?? '').replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    throw new Error(`--${flag}: ${issue.message} (the data "${dataName}" does not say it; pass the flag)`);
  }
  return got.data;
}
