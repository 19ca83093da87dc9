/**
 * Text corpora as a deterministic stream of documents: plain text split on a separator,
 * JSON lines with a text field, parquet with a text column (hyparquet, all codecs), or a
 * folder of such files read in name order. Plain text is streamed, and a document longer than
 * a piece is handed out in pieces cut before a single whitespace character, so memory is
 * bounded by the piece, not the document (docs/design.md §5.4).
 */
import { closeSync, createReadStream, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

export interface CorpusOptions {
  /** the JSON field or parquet column holding the text */
  field?: string;
  /** plain text: the string between documents ("" = the whole file is one document) */
  separator?: string;
  /** the longest piece of a document handed out at once, in characters (default 65,536) */
  pieceChars?: number;
  /** told the share of a plain-text file's characters that were not valid UTF-8, when over 0.1% */
  onInvalidUtf8?: (file: string, share: number) => void;
}

/** A document, or part of one: `first` is false for the pieces that continue a document. */
export interface DocPiece {
  text: string;
  first: boolean;
}

const FORMATS = ['.txt', '.jsonl', '.parquet'];

function files(path: string): string[] {
  if (!existsSync(path)) throw new Error(`corpus ${path}: no such file or folder`);
  if (statSync(path).isFile()) return [path];
  const found = readdirSync(path).filter((f) => FORMATS.includes(extname(f))).sort().map((f) => join(path, f));
  if (found.length === 0) throw new Error(`corpus ${path}: the folder holds no ${FORMATS.join(', ')} files`);
  return found;
}

const PIECE_CHARS = 65536;

/** Yields the corpus's non-blank documents in a fixed order, long ones in pieces. */
export async function* readDocuments(path: string, o: CorpusOptions = {}): AsyncGenerator<DocPiece> {
  const field = o.field ?? 'text';
  const pieceChars = o.pieceChars ?? PIECE_CHARS;
  for (const file of files(path)) {
    const ext = extname(file);
    const docs = ext === '.jsonl' || ext === '.json' ? jsonlDocuments(file, field)
      : ext === '.parquet' ? parquetDocuments(file, field) : null;
    if (docs) {
      for await (const doc of docs) yield* pieces(doc, pieceChars, true);
    } else {
      yield* textDocuments(file, o.separator ?? '\n\n', pieceChars, o.onInvalidUtf8);
    }
  }
}

/** Where to cut `text` into a piece of at most `max` characters: before a single whitespace
 *  character that follows and precedes non-whitespace (where the tokenizers split anyway),
 *  else at `max`. */
function cutPoint(text: string, max: number): number {
  const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  for (let i = max; i > max / 2; i--) {
    if (isSpace(text[i]) && !isSpace(text[i - 1]) && !isSpace(text[i + 1])) return i;
  }
  // no such place: cut at max, never inside a surrogate pair
  const c = text.charCodeAt(max - 1);
  return c >= 0xd800 && c < 0xdc00 ? max - 1 : max;
}

/** A document's pieces of at most `max` characters. `keep` > 0: the document goes on, so
 *  pieces are cut only while more than `keep` characters would remain, and the rest is
 *  returned for more text to join. */
function* pieces(doc: string, max: number, first: boolean, keep = 0): Generator<DocPiece, { rest: string; first: boolean }> {
  let rest = doc;
  while (rest.length > max + keep) {
    const at = cutPoint(rest, max);
    const text = rest.slice(0, at);
    rest = rest.slice(at);
    if (text.trim().length > 0) {
      yield { text, first };
      first = false;
    }
  }
  if (keep > 0) return { rest, first };
  if (rest.trim().length > 0) yield { text: rest, first };
  return { rest: '', first: true };
}

/** A plain-text file split on `sep` ("" = one document), read in 1 MB blocks. */
async function* textDocuments(file: string, sep: string, max: number, onInvalid?: (file: string, share: number) => void): AsyncGenerator<DocPiece> {
  const fd = openSync(file, 'r');
  const block = Buffer.alloc(1 << 20);
  const dec = new TextDecoder('utf-8', { fatal: false });
  let pending = '', first = true, chars = 0, invalid = 0;
  try {
    for (;;) {
      const got = readSync(fd, block, 0, block.length, null);
      const text = dec.decode(block.subarray(0, got), { stream: got > 0 });
      chars += text.length;
      for (let i = text.indexOf('\uFFFD'); i >= 0; i = text.indexOf('\uFFFD', i + 1)) invalid++;
      pending += text;
      // every whole document in what has been read so far
      let at = sep === '' ? -1 : pending.indexOf(sep);
      while (at >= 0) {
        yield* pieces(pending.slice(0, at), max, first);
        first = true;
        pending = pending.slice(at + sep.length);
        at = pending.indexOf(sep);
      }
      if (got === 0) break;
      // a long unfinished document: hand out its pieces, keeping enough to find a separator
      if (pending.length > 2 * max + sep.length) {
        ({ rest: pending, first } = yield* pieces(pending, max, first, max + sep.length));
      }
    }
    yield* pieces(pending, max, first);
  } finally {
    closeSync(fd);
  }
  if (onInvalid && chars > 0 && invalid / chars > 0.001) onInvalid(file, invalid / chars);
}

async function* jsonlDocuments(file: string, field: string): AsyncGenerator<string> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new Error(`${file}:${n}: not valid JSON (${(err as Error).message})`);
    }
    const text = (obj as Record<string, unknown> | null)?.[field];
    if (typeof text !== 'string') throw new Error(`${file}:${n}: no string field "${field}" (set the text field with --text-field)`);
    if (text.trim().length > 0) yield text;
  }
}

async function* parquetDocuments(file: string, field: string): AsyncGenerator<string> {
  const buf = await asyncBufferFromFile(file);
  let metadata;
  try {
    metadata = await parquetMetadataAsync(buf);
  } catch (err) {
    throw new Error(`${file}: not a readable parquet file (${(err as Error).message})`);
  }
  const columns = parquetSchema(metadata).children.map((c) => c.element.name);
  if (!columns.includes(field)) throw new Error(`${file}: no column "${field}" (columns: ${columns.join(', ')}; set it with --text-field)`);
  const total = Number(metadata.num_rows);
  const chunk = 4096;
  for (let start = 0; start < total; start += chunk) {
    const rows = await parquetReadObjects({ file: buf, metadata, columns: [field], rowStart: start, rowEnd: Math.min(total, start + chunk), compressors });
    for (const row of rows) {
      const text = row[field];
      if (typeof text === 'string' && text.trim().length > 0) yield text;
    }
  }
}
