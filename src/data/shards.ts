/**
 * Activation shards, the on-disk contract (docs/design.md §5): a folder with manifest.json and
 * shard-00000.safetensors, … each holding `activations` [tokens, d] (F32 or BF16) and, from
 * an LM, `tokens` / `positions` [tokens] (I32), and for transcoders `targets` [tokens, d_out].
 * A single .safetensors file with an `activations` tensor is accepted too. Rows stream shard by
 * shard in bounded reads.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { z } from 'zod';
import { writeJsonAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import { SafetensorsFile, writeSafetensors, type DType } from '../io/safetensors.js';
import { SITES } from '../lm/transformer.js';
import type { ActivationSource, SourceState } from './source.js';

/** A manifest's `source`: where the rows came from (written by extract, read by eval --model,
 *  index and info). Unknown keys are kept. */
export const ShardOrigin = z.object({
  model: z.string().optional(),
  corpus: z.string().optional(),
  layer: z.number().int().min(0).optional(),
  site: z.enum(SITES).optional(),
  target_site: z.enum(SITES).optional(),
  ctx: z.number().int().optional(),
  exclude_bos: z.boolean().optional(),
  text_field: z.string().optional(),
  sep: z.string().optional(),
  tokens: z.number().int().optional(),
  /** the canonical lm: spec the rows were read with */
  lm_spec: z.string().optional(),
}).passthrough();
export type ShardOrigin = z.infer<typeof ShardOrigin>;

export const Manifest = z.object({
  format: z.literal('saekit-shards').default('saekit-shards'),
  d: z.number().int().positive(),
  /** width of the `targets` tensor (transcoder shards) */
  d_out: z.number().int().positive().optional(),
  dtype: z.enum(['F32', 'BF16']),
  total_tokens: z.number().int().min(0),
  shards: z.array(z.object({ file: z.string(), tokens: z.number().int().min(0) })),
  source: ShardOrigin.default({}),
});
export type Manifest = z.infer<typeof Manifest>;

/** Reads a shard folder's manifest, or describes a single file as a one-shard set. */
export function readManifest(path: string): { dir: string; manifest: Manifest } {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder (expected a shard folder with manifest.json or a .safetensors file)`);
  if (statSync(path).isFile()) {
    const f = SafetensorsFile.open(path);
    try {
      const t = f.info('activations');
      if (t.shape.length !== 2) throw new Error(`${path}: "activations" must be [tokens, d], got shape ${JSON.stringify(t.shape)}`);
      if (t.dtype !== 'F32' && t.dtype !== 'BF16') throw new Error(`${path}: "activations" has dtype ${t.dtype}, expected F32 or BF16`);
      const [tokens, d] = t.shape as [number, number];
      if (tokens < 1 || d < 1) throw new Error(`${path}: "activations" is ${JSON.stringify(t.shape)}: expected at least one row, of width d >= 1`);
      const dOut = f.tensors.has('targets') ? f.info('targets').shape[1] : undefined;
      if (dOut !== undefined && dOut < 1) throw new Error(`${path}: "targets" is ${JSON.stringify(f.info('targets').shape)}: expected width d_out >= 1`);
      return { dir: join(path, '..'), manifest: { format: 'saekit-shards', d, ...(dOut ? { d_out: dOut } : {}), dtype: t.dtype, total_tokens: tokens, shards: [{ file: basename(path), tokens }], source: {} } };
    } finally {
      f.close();
    }
  }
  const mpath = join(path, 'manifest.json');
  if (!existsSync(mpath)) throw new Error(`${path}: a folder without manifest.json is not a shard folder`);
  const got = Manifest.safeParse(readJsonFile(mpath));
  if (!got.success) {
    const issue = got.error.issues[0]!;
    throw new Error(`${mpath}: field "${issue.path.join('.')}": ${issue.message}`);
  }
  const sum = got.data.shards.reduce((a, s) => a + s.tokens, 0);
  if (sum !== got.data.total_tokens) throw new Error(`${mpath}: total_tokens is ${got.data.total_tokens} but the shards hold ${sum}`);
  return { dir: path, manifest: got.data };
}

/**
 * Checks every shard against the manifest before any row is read: the file lies inside the
 * folder, and its tensors have the manifest's shapes and dtype (`activations` [tokens, d],
 * `targets` [tokens, d_out] for transcoder shards, `tokens`/`positions` [tokens] I32 when
 * present). Errors name the file and tensor.
 */
export function validateShards(dir: string, manifest: Manifest): void {
  const root = resolve(dir);
  for (const entry of manifest.shards) {
    const path = resolve(root, entry.file);
    if (!path.startsWith(root + sep)) throw new Error(`${join(dir, 'manifest.json')}: shard file ${JSON.stringify(entry.file)} lies outside the folder`);
    const f = SafetensorsFile.open(path);
    try {
      const expect = (name: string, shape: number[], dtypes: string[]): void => {
        const t = f.info(name);
        if (JSON.stringify(t.shape) !== JSON.stringify(shape)) throw new Error(`${path}: "${name}" has shape ${JSON.stringify(t.shape)}, the manifest says ${JSON.stringify(shape)}`);
        if (!dtypes.includes(t.dtype)) throw new Error(`${path}: "${name}" has dtype ${t.dtype}, expected ${dtypes.join(' or ')}`);
      };
      expect('activations', [entry.tokens, manifest.d], [manifest.dtype]);
      if (manifest.d_out) expect('targets', [entry.tokens, manifest.d_out], ['F32', 'BF16']);
      else if (f.tensors.has('targets')) throw new Error(`${path}: has "targets" but the manifest gives no d_out`);
      for (const name of ['tokens', 'positions']) if (f.tensors.has(name)) expect(name, [entry.tokens], ['I32']);
    } finally {
      f.close();
    }
  }
}

export class ShardSource implements ActivationSource {
  readonly d: number;
  readonly length: number;
  readonly description: string;
  readonly manifest: Manifest;
  readonly dir: string;
  readonly dOut?: number;
  /** the rows [start, end) of the whole set this source reads */
  readonly start: number;
  readonly end: number;
  #shard = 0;
  #row = 0;
  /** rows of the whole set before the current position */
  #pos = 0;
  #file: SafetensorsFile | null = null;

  /** rows: a range of the set's rows (default all); the description names it exactly. */
  constructor(path: string, rows: { start?: number; end?: number } = {}) {
    const { dir, manifest } = readManifest(path);
    this.dir = dir;
    this.manifest = manifest;
    this.d = manifest.d;
    if (manifest.d_out) this.dOut = manifest.d_out;
    const total = manifest.total_tokens;
    this.start = rows.start ?? 0;
    this.end = rows.end ?? total;
    if (!Number.isInteger(this.start) || !Number.isInteger(this.end) || this.start < 0 || this.end > total || this.start >= this.end) {
      throw new Error(`${path}: rows ${rows.start ?? ''}:${rows.end ?? ''} are not a non-empty range of its ${total} rows`);
    }
    this.length = this.end - this.start;
    validateShards(dir, manifest);
    this.description = rows.start === undefined && rows.end === undefined ? path : `${path}#${this.start}:${this.end}`;
    this.#seek(this.start);
  }

  /** Positions the reader at row `at` of the whole set. */
  #seek(at: number): void {
    this.#file?.close();
    this.#file = null;
    let before = 0, s = 0;
    while (s < this.manifest.shards.length && before + this.manifest.shards[s]!.tokens <= at) before += this.manifest.shards[s++]!.tokens;
    this.#shard = s;
    this.#row = at - before;
    this.#pos = at;
  }

  #open(): SafetensorsFile {
    if (this.#file) return this.#file;
    const entry = this.manifest.shards[this.#shard]!;
    const path = join(this.dir, entry.file);
    const f = SafetensorsFile.open(path);
    const t = f.info('activations');
    if (t.shape.length !== 2 || t.shape[1] !== this.d || t.shape[0] !== entry.tokens) {
      f.close();
      throw new Error(`${path}: "activations" has shape ${JSON.stringify(t.shape)}, the manifest says [${entry.tokens}, ${this.d}]`);
    }
    this.#file = f;
    return f;
  }

  read(out: Float32Array, rows: number, targets?: Float32Array): number {
    return this.readWithTokens(out, rows, undefined, undefined, targets);
  }

  /** Like read(), also giving each row's token id and position when the shards hold them
   *  (−1 where they do not). */
  readWithTokens(out: Float32Array, rows: number, outTok?: Int32Array, outPos?: Int32Array, targets?: Float32Array): number {
    let filled = 0;
    rows = Math.max(0, Math.min(rows, this.end - this.#pos));
    while (filled < rows && this.#shard < this.manifest.shards.length) {
      const entry = this.manifest.shards[this.#shard]!;
      const take = Math.min(rows - filled, entry.tokens - this.#row);
      if (take > 0) {
        const f = this.#open();
        const chunk = f.readF32('activations', this.#row, take);
        for (let e = 0; e < chunk.length; e++) {
          if (!Number.isFinite(chunk[e]!)) {
            const r = this.#row + Math.floor(e / this.d);
            throw new Error(`${join(this.dir, entry.file)}: row ${r}, column ${e % this.d} of "activations" is ${chunk[e]} (activations must be finite)`);
          }
        }
        out.set(chunk, filled * this.d);
        if (targets && this.dOut) targets.set(f.readF32('targets', this.#row, take), filled * this.dOut);
        for (const [name, dst] of [['tokens', outTok], ['positions', outPos]] as const) {
          if (!dst) continue;
          if (f.tensors.has(name)) dst.set(f.readI32(name, this.#row, take), filled);
          else dst.fill(-1, filled, filled + take);
        }
        filled += take;
        this.#row += take;
        this.#pos += take;
      }
      if (this.#row >= entry.tokens) {
        this.#file?.close();
        this.#file = null;
        this.#shard++;
        this.#row = 0;
      }
    }
    return filled;
  }

  skip(rows: number): number {
    const n = Math.max(0, Math.min(rows, this.end - this.#pos));
    const entry = this.manifest.shards[this.#shard];
    // within the open shard: move the row; else seek (closing the file)
    if (entry && this.#row + n < entry.tokens) {
      this.#row += n;
      this.#pos += n;
    } else {
      this.#seek(this.#pos + n);
    }
    return n;
  }

  state(): SourceState {
    return { json: { kind: 'shards', shard: this.#shard, row: this.#row } };
  }

  restore(state: SourceState): void {
    const { kind, shard, row } = state.json as { kind?: string; shard?: number; row?: number };
    if (kind !== 'shards' || typeof shard !== 'number' || typeof row !== 'number') throw new Error('checkpoint: the data state is not a shard-source state');
    this.#file?.close();
    this.#file = null;
    this.#shard = shard;
    this.#row = row;
    this.#pos = this.manifest.shards.slice(0, shard).reduce((a, e) => a + e.tokens, 0) + row;
  }
}

/** Writes rows into shard files of `shardTokens` rows and the manifest last (atomically). */
export class ShardWriter {
  readonly dir: string;
  readonly d: number;
  readonly dtype: 'F32' | 'BF16';
  readonly shardTokens: number;
  readonly source: ShardOrigin;
  #rows: Float32Array;
  #tokens: Int32Array | null;
  #positions: Int32Array | null;
  #targets: Float32Array | null;
  readonly dOut?: number;
  #fill = 0;
  #shards: { file: string; tokens: number }[];

  /** `shards`: the shards already written by an interrupted writer, to continue after them. */
  constructor(dir: string, o: { d: number; dOut?: number; dtype?: 'F32' | 'BF16'; shardTokens?: number; withTokens?: boolean; source?: ShardOrigin; shards?: { file: string; tokens: number }[] }) {
    this.#shards = [...(o.shards ?? [])];
    this.dir = dir;
    this.d = o.d;
    this.dtype = o.dtype ?? 'F32';
    this.shardTokens = o.shardTokens ?? 65536;
    this.source = o.source ?? {};
    this.#rows = new Float32Array(this.shardTokens * o.d);
    this.#tokens = o.withTokens ? new Int32Array(this.shardTokens) : null;
    this.#positions = o.withTokens ? new Int32Array(this.shardTokens) : null;
    this.#targets = o.dOut ? new Float32Array(this.shardTokens * o.dOut) : null;
    if (o.dOut) this.dOut = o.dOut;
    mkdirSync(dir, { recursive: true });
  }

  /** Adds rows x [rows, d] (with their token ids and positions, and targets [rows, dOut], when
   *  the writer keeps them). */
  write(x: Float32Array, rows: number, tokens?: Int32Array, positions?: Int32Array, targets?: Float32Array): void {
    for (let r = 0; r < rows; r++) {
      this.#rows.set(x.subarray(r * this.d, (r + 1) * this.d), this.#fill * this.d);
      if (this.#targets) {
        if (!targets) throw new Error('ShardWriter: this writer keeps targets; pass them');
        const w = this.dOut!;
        this.#targets.set(targets.subarray(r * w, (r + 1) * w), this.#fill * w);
      }
      if (this.#tokens && this.#positions) {
        this.#tokens[this.#fill] = tokens?.[r] ?? -1;
        this.#positions[this.#fill] = positions?.[r] ?? -1;
      }
      if (++this.#fill === this.shardTokens) this.#flush();
    }
  }

  /** The shards written so far (each complete on disk). */
  get shards(): readonly { file: string; tokens: number }[] {
    return this.#shards;
  }

  /** Writes the buffered rows as a shard now, even if it is not full. */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    if (this.#fill === 0) return;
    const file = `shard-${String(this.#shards.length).padStart(5, '0')}.safetensors`;
    const n = this.#fill;
    const tensors: Record<string, { dtype: DType; shape: number[]; data: Float32Array | Int32Array }> = {
      activations: { dtype: this.dtype, shape: [n, this.d], data: this.#rows.subarray(0, n * this.d) },
    };
    if (this.#tokens && this.#positions) {
      tensors.tokens = { dtype: 'I32', shape: [n], data: this.#tokens.slice(0, n) };
      tensors.positions = { dtype: 'I32', shape: [n], data: this.#positions.slice(0, n) };
    }
    if (this.#targets) tensors.targets = { dtype: this.dtype, shape: [n, this.dOut!], data: this.#targets.subarray(0, n * this.dOut!) };
    writeSafetensors(join(this.dir, file), tensors);
    this.#shards.push({ file, tokens: n });
    this.#fill = 0;
  }

  /** Flushes the last shard and writes manifest.json. */
  close(): Manifest {
    this.#flush();
    const manifest: Manifest = {
      format: 'saekit-shards', d: this.d, ...(this.dOut ? { d_out: this.dOut } : {}), dtype: this.dtype,
      total_tokens: this.#shards.reduce((a, s) => a + s.tokens, 0), shards: this.#shards, source: this.source,
    };
    writeJsonAtomic(join(this.dir, 'manifest.json'), manifest);
    return manifest;
  }
}
