/**
 * One writer per folder: a lock file (`.lock`, JSON with the holder's pid, command and start
 * time) created exclusively. A second train, resume, sweep, extract or index on the same folder
 * is refused naming the holder; a lock whose process is gone (killed) is taken over.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK_FILE = '.lock';

/** Whether the process runs: it exists and (where /proc tells) is not a zombie — a killed
 *  process whose parent is gone may stay a zombie when nothing reaps it (e.g. an MPI rank after
 *  mpirun exited, in a container whose init does not reap), and it holds nothing. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/PID/stat: "pid (comm) state …"; comm may hold spaces and parentheses
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Refuses an output path that exists and is not a folder. */
export function requireFolder(dir: string, flag = '--out'): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`${flag} ${dir}: is a file, not a folder (name a folder to write into)`);
}

/** Takes the lock of `dir` (created if missing) for `what`; returns its release. */
export function lockFolder(dir: string, what: string): () => void {
  requireFolder(dir);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const me = JSON.stringify({ pid: process.pid, what, since: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, me, { flag: 'wx' });
      return () => {
        // release only our own lock
        try {
          if (JSON.parse(readFileSync(path, 'utf8')).pid === process.pid) rmSync(path, { force: true });
        } catch { /* gone already */ }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: { pid?: number; what?: string; since?: string } = {};
    try {
      holder = JSON.parse(readFileSync(path, 'utf8'));
    } catch { /* unreadable: treat as stale */ }
    if (typeof holder.pid === 'number' && holder.pid !== process.pid && alive(holder.pid)) {
      throw new Error(`${dir} is in use by ${holder.what ?? 'another saekit process'} (pid ${holder.pid}, since ${holder.since ?? '?'}); wait for it to finish or stop it`);
    }
    // stale: its process is gone (or it is this process's own leftover)
    if (existsSync(path)) rmSync(path, { force: true });
  }
  throw new Error(`${dir}: could not take its lock ${path}`);
}

/** The live holder of `dir`'s lock (a process still running), or null. */
export function lockHolder(dir: string): { pid: number; what?: string; since?: string } | null {
  try {
    const holder = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid?: unknown; what?: string; since?: string };
    return typeof holder.pid === 'number' && alive(holder.pid) ? { ...holder, pid: holder.pid } : null;
  } catch {
    return null;
  }
}
