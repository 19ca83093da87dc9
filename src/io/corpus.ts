/**
 * Text corpora as a deterministic stream of documents: plain text split on a separator,
 * JSON lines with a text field, parquet with a text column (hyparquet, all codecs), or a
 * folder of such files read in name order.
 */
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

export interface CorpusOptions {
  /** the JSON field or parquet column holding the text */
  field?: string;
  /** plain text: the string between documents ("" = the whole file is one document) */
  separator?: string;
}

const FORMATS = ['.txt', '.jsonl', '.parquet'];

function files(path: string): string[] {
  if (!existsSync(path)) throw new Error(`corpus ${path}: no such file or folder`);
  if (statSync(path).isFile()) return [path];
  const found = readdirSync(path).filter((f) => FORMATS.includes(extname(f))).sort().map((f) => join(path, f));
  if (found.length === 0) throw new Error(`corpus ${path}: the folder holds no ${FORMATS.join(', ')} files`);
  return found;
}

/** Yields the corpus's non-blank documents in a fixed order. */
export async function* readDocuments(path: string, o: CorpusOptions = {}): AsyncGenerator<string> {
  const field = o.field ?? 'text';
  for (const file of files(path)) {
    const ext = extname(file);
    if (ext === '.jsonl' || ext === '.json') yield* jsonlDocuments(file, field);
    else if (ext === '.parquet') yield* parquetDocuments(file, field);
    else {
      const text = readFileSync(file, 'utf8');
      const sep = o.separator ?? '\n\n';
      for (const doc of sep === '' ? [text] : text.split(sep)) if (doc.trim().length > 0) yield doc;
    }
  }
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
