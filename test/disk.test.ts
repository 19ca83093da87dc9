// A full disk mid-run: the error names the file, says what is intact, leaves no temp files,
// and the run resumes from its last checkpoint once there is room. Needs a small tmpfs
// (root); skips, saying so, where it cannot mount one.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/io/atomic.js';
import { runCli as run } from './helpers.js';

/** A 700 KB tmpfs, or null with the reason. */
function mountTiny(): { dir: string; unmount: () => void } | null {
  if (process.getuid?.() !== 0) {
    console.warn('skipping the full-disk tests: mounting a small tmpfs needs root');
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'saekit-full-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=700k', 'tmpfs', dir], { encoding: 'utf8' });
  if (m.status !== 0) {
    console.warn(`skipping the full-disk tests: cannot mount a tmpfs (${(m.stderr || m.error?.message || '').trim()})`);
    return null;
  }
  return { dir, unmount: () => void spawnSync('umount', [dir]) };
}

const tiny = mountTiny();
afterAll(() => tiny?.unmount());

describe.skipIf(!tiny)('a full disk', () => {
  it('an atomic write that runs out of space names the file and leaves the previous one intact', () => {
    const path = join(tiny!.dir, 'a.json');
    writeFileAtomic(path, ['{"old": true}\n']);
    expect(() => writeFileAtomic(path, [new Uint8Array(2 << 20)])).toThrow(/a\.json: cannot write: no space left on the device \(ENOSPC\); nothing was replaced, the previous file is intact/);
    expect(readFileSync(path, 'utf8')).toBe('{"old": true}\n');
    expect(readdirSync(tiny!.dir)).toEqual(['a.json']);
  });

  it('training stops at the checkpoint that does not fit, says which one is intact, and resumes from it elsewhere', () => {
    const out = join(tiny!.dir, 'run');
    // one checkpoint is ~415 KB (W_enc, W_dec, biases and Adam's two moments at 1024 × 16): the second does not fit
    const args = ['train', '--data', 'synthetic:d=16,features=64,active=3', '--latents', '1024', '--k', '4', '--tokens', '40k', '--batch', '512', '--checkpoint-every', '8192', '--eval-tokens', '4096'];
    const full = run([...args, '--out', out]);
    expect(full.status).toBe(1);
    expect(full.stderr).toMatch(/state\.safetensors: cannot write: no space left on the device \(ENOSPC\)/);
    expect(full.stderr).toMatch(/checkpoint step-\d+ was not written; .*step-\d+ \(step \d+\) is intact: make room, then --resume/);
    expect(full.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(join(out, 'checkpoints')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const moved = join(mkdtempSync(join(tmpdir(), 'saekit-roomy-')), 'run');
    mkdirSync(moved);
    cpSync(out, moved, { recursive: true });
    const resumed = run(['train', '--out', moved, '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(existsSync(join(moved, 'eval.json'))).toBe(true);
  });
});
