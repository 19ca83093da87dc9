/** Reading JSON files with errors that name the file. */
import { readFileSync } from 'node:fs';

export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

/** A JSON file's value, or null when it is missing or not (yet) valid JSON: for files another
 *  process may be writing (a run's eval.json while the viewer shows it). */
export function readJsonOrNull(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

/** A settings file (a sweep config): as readJsonFile, but a "__proto__" key anywhere, which
 *  validation would drop silently, is an error naming it. */
export function readSettingsFile(path: string): unknown {
  const value = readJsonFile(path);
  const where = protoKey(value, '');
  if (where !== null) throw new Error(`${path}: key "${where}" is not allowed ("__proto__" names an object's prototype, not a setting)`);
  return value;
}

function protoKey(v: unknown, at: string): string | null {
  if (typeof v !== 'object' || v === null) return null;
  for (const [k, x] of Object.entries(v)) {
    const here = at ? `${at}.${k}` : k;
    if (k === '__proto__') return here;
    const inner = protoKey(x, here);
    if (inner !== null) return inner;
  }
  return null;
}

/** A JSON object file as a record; anything else is an error naming the file. */
export function readJsonObject(path: string): Record<string, unknown> {
  const v = readJsonFile(path);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}
