/**
 * Atomic file writes: write a temp file beside the target, fsync, rename. A reader never
 * sees a half-written file, and a crash leaves at most a stray temp file.
 */
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** A failed write of `path` said plainly: the path, the cause (a full disk named as such),
 *  and that nothing was replaced. */
export function writeError(path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const cause = e.code === 'ENOSPC' ? 'no space left on the device (ENOSPC)'
    : e.code === 'EDQUOT' ? 'disk quota exceeded (EDQUOT)'
    : e.code ? `${e.code}: ${e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ .*$/, '')}` : e.message;
  const intact = existsSync(path) ? 'the previous file is intact' : 'no file was created';
  return new Error(`${path}: cannot write: ${cause}; nothing was replaced, ${intact}`);
}

/** Writes the chunks to `path` atomically; a failure removes the temp file and names `path`. */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array | string>): void {
  const tmp = tempPathFor(path);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    for (const chunk of chunks) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let off = 0;
      while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw writeError(path, err);
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, [JSON.stringify(value, null, 2) + '\n']);
}

/** Refuses to write over `path` when it exists (a non-empty folder, or any file), unless
 *  `force`; `flag` names what the user gave. */
export function refuseExisting(path: string, flag: string, force: boolean): void {
  if (force || !existsSync(path)) return;
  if (statSync(path).isDirectory() && readdirSync(path).length === 0) return;
  throw new Error(`${flag} ${path} already exists: pass --force to replace it, or choose another path`);
}
