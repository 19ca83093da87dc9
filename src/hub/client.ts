/**
 * The Hugging Face hub, through its official client (@huggingface/hub): listing a repo,
 * downloading files into the cache and pushing folders. Files are cached in the hub's own
 * layout (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub:
 * models--ORG--NAME/{blobs/<etag>, snapshots/<commit>/<path>, refs/<revision>}), so the Python
 * tools and saekit share downloads. A download is resumed from its `.incomplete` part with a
 * range request, checked against the size and the hash the hub lists (sha256 for LFS files,
 * the git blob sha1 otherwise), and only then moved into place. HF_TOKEN is sent when set;
 * HF_ENDPOINT points at another hub (tests use a local one); HF_HUB_OFFLINE=1, or a hub that
 * cannot be reached, serves what the cache holds.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, openAsBlob, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { commit, createRepo, downloadFile, listFiles, modelInfo, pathsInfo, repoExists } from '@huggingface/hub';

/** hf:ORG/NAME[/PATH][@REVISION] */
export interface HubRef {
  repo: string;
  /** a file or folder inside the repo ('' for its root) */
  path: string;
  revision: string;
}

export function parseHubRef(spec: string, flag = 'hf:'): HubRef {
  const m = /^hf:([\w.-]+\/[\w.-]+)(\/[^@]*)?(?:@([\w./-]+))?$/.exec(spec);
  if (!m) throw new Error(`${flag} ${JSON.stringify(spec)}: expected hf:ORG/NAME[/PATH][@REVISION]`);
  return { repo: m[1]!, path: (m[2] ?? '').replace(/^\/+|\/+$/g, ''), revision: m[3] ?? 'main' };
}

export const formatHubRef = (r: HubRef): string => `hf:${r.repo}${r.path ? '/' + r.path : ''}${r.revision !== 'main' ? '@' + r.revision : ''}`;

export interface HubFile {
  path: string;
  size: number;
  /** the hub's id of the content: the LFS sha256, else the git blob sha1 */
  etag: string;
  lfs: boolean;
}

interface Hub {
  hubUrl: string;
  accessToken?: string;
  cacheDir: string;
  offline: boolean;
}

export function hub(): Hub {
  const env = process.env;
  const cacheDir = env.HF_HUB_CACHE ?? join(env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface'), 'hub');
  return { hubUrl: (env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''), ...(env.HF_TOKEN ? { accessToken: env.HF_TOKEN } : {}), cacheDir, offline: ['1', 'true', 'yes'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase()) };
}

const repoDir = (h: Hub, repo: string): string => join(h.cacheDir, `models--${repo.replace(/\//g, '--')}`);
const isCommit = (rev: string): boolean => /^[0-9a-f]{40}$/.test(rev);

/** A failure to reach the hub at all (as opposed to an answer from it). */
function unreachable(err: unknown): boolean {
  const e = err as { name?: string; cause?: { code?: string }; message?: string };
  return e?.name === 'TypeError' && /fetch failed/.test(e.message ?? '') || ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT'].includes(e?.cause?.code ?? '');
}

function explain(err: unknown, what: string, h: Hub): Error {
  const e = err as { statusCode?: number; message?: string };
  if (unreachable(err)) return new Error(`${what}: cannot reach ${h.hubUrl} (${e.message}); it is not in the cache either (${h.cacheDir})`);
  if (e.statusCode === 401 || e.statusCode === 403) return new Error(`${what}: the hub refused access (${e.statusCode}); set HF_TOKEN to a token that may read it`);
  if (e.statusCode === 404) return new Error(`${what}: not found on ${h.hubUrl}`);
  return new Error(`${what}: ${e.message ?? String(err)}`);
}

/** The commit a revision names: asked of the hub and remembered in refs/, or read from refs/
 *  when offline. */
async function commitOf(h: Hub, repo: string, revision: string): Promise<{ sha: string; online: boolean }> {
  if (isCommit(revision)) return { sha: revision, online: !h.offline };
  const ref = join(repoDir(h, repo), 'refs', revision);
  const cached = (): { sha: string; online: boolean } | null => existsSync(ref) ? { sha: readFileSync(ref, 'utf8').trim(), online: false } : null;
  if (h.offline) {
    const c = cached();
    if (!c) throw new Error(`hf:${repo}@${revision}: HF_HUB_OFFLINE is set and the cache (${h.cacheDir}) has no copy of it`);
    return c;
  }
  try {
    const info = await modelInfo({ name: repo, revision, hubUrl: h.hubUrl, ...(h.accessToken ? { accessToken: h.accessToken } : {}), additionalFields: ['sha'] });
    const sha = (info as { sha?: string }).sha;
    if (!sha) throw new Error(`hf:${repo}: the hub did not say which commit ${revision} is`);
    mkdirSync(dirname(ref), { recursive: true });
    writeFileSync(ref, sha);
    return { sha, online: true };
  } catch (err) {
    const c = unreachable(err) ? cached() : null;
    if (c) return c;
    throw explain(err, `hf:${repo}@${revision}`, h);
  }
}

/** The files of a repo under `path` (all of it for ''), with sizes and content ids; `cached`
 *  when the hub is off or unreachable and the listing is what the cache holds. */
export async function listRepo(ref: HubRef): Promise<{ files: HubFile[]; cached: string | null }> {
  const h = hub();
  const { sha, online } = await commitOf(h, ref.repo, ref.revision);
  if (!online) {
    const cached = listSnapshot(h, ref, sha);
    const why = `not in the cache (${h.cacheDir}) and the hub is ${h.offline ? 'off (HF_HUB_OFFLINE)' : 'unreachable'}`;
    if (!cached.length) throw new Error(`${formatHubRef(ref)}: ${why}`);
    return { files: cached, cached: why };
  }
  const out: HubFile[] = [];
  try {
    for await (const f of listFiles({ repo: ref.repo, revision: sha, hubUrl: h.hubUrl, ...(h.accessToken ? { accessToken: h.accessToken } : {}), recursive: true, ...(ref.path ? { path: ref.path } : {}) })) {
      if (f.type === 'file') out.push({ path: f.path, size: f.size, etag: f.lfs?.oid ?? f.oid ?? '', lfs: Boolean(f.lfs) });
    }
  } catch (err) {
    throw explain(err, formatHubRef(ref), h);
  }
  return { files: out, cached: null };
}

/** What the cache holds of a snapshot (offline listing; sizes and ids from the blobs). */
function listSnapshot(h: Hub, ref: HubRef, sha: string): HubFile[] {
  const root = join(repoDir(h, ref.repo), 'snapshots', sha);
  const out: HubFile[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push({ path: relative(root, p), size: statSync(p).size, etag: '', lfs: false });
    }
  };
  walk(ref.path ? join(root, ref.path) : root);
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

const progressLine = (path: string, done: number, total: number): string => `  ${path}: ${(done / 2 ** 20).toFixed(1)} of ${(total / 2 ** 20).toFixed(1)} MiB`;

/** Hashes a file as the hub identifies it: sha256 (LFS) or git's blob sha1 ("blob SIZE\0" + bytes). */
async function contentId(path: string, lfs: boolean): Promise<string> {
  const hash = createHash(lfs ? 'sha256' : 'sha1');
  if (!lfs) hash.update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * One file of a repo in the cache: its local path (snapshots/<commit>/<path>). Downloaded when
 * missing, resumed from a partial download, verified before it is moved into place.
 */
export async function fetchFile(ref: HubRef, path: string, log: (line: string) => void = () => undefined): Promise<string> {
  const h = hub();
  const { sha, online } = await commitOf(h, ref.repo, ref.revision);
  const dir = repoDir(h, ref.repo);
  const pointer = join(dir, 'snapshots', sha, path);
  if (existsSync(pointer)) return pointer;
  const what = `hf:${ref.repo}/${path}`;
  if (!online) throw new Error(`${what}: not in the cache (${h.cacheDir}) and the hub is ${h.offline ? 'off (HF_HUB_OFFLINE)' : 'unreachable'}`);
  const auth = h.accessToken ? { accessToken: h.accessToken } : {};
  let info;
  try {
    [info] = await pathsInfo({ repo: ref.repo, revision: sha, paths: [path], expand: true, hubUrl: h.hubUrl, ...auth });
  } catch (err) {
    throw explain(err, what, h);
  }
  if (!info || info.type !== 'file') throw new Error(`${what}: no such file in ${formatHubRef({ ...ref, path: '' })}`);
  const lfs = Boolean(info.lfs);
  const etag = info.lfs?.oid ?? info.oid;
  if (!etag) throw new Error(`${what}: the hub lists no content id (oid) for it, so the download could not be verified`);
  const size = info.size;
  const blob = join(dir, 'blobs', etag);
  mkdirSync(dirname(blob), { recursive: true });
  if (!existsSync(blob)) {
    const part = `${blob}.incomplete`;
    const have = existsSync(part) ? statSync(part).size : 0;
    if (have > size) rmSync(part);
    const from = have > size ? 0 : have;
    if (from < size) {
      log(`downloading ${what} (${(size / 2 ** 20).toFixed(1)} MiB${from ? `, resuming at ${(from / 2 ** 20).toFixed(1)}` : ''})`);
      let remote;
      try {
        remote = await downloadFile({ repo: ref.repo, revision: sha, path, hubUrl: h.hubUrl, ...auth });
      } catch (err) {
        throw explain(err, what, h);
      }
      if (!remote) throw new Error(`${what}: the hub has no such file`);
      let done = from, lastLog = Date.now();
      const counter = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          done += chunk.byteLength;
          if (Date.now() - lastLog > 2000) { lastLog = Date.now(); log(progressLine(path, done, size)); }
          ctl.enqueue(chunk);
        },
      });
      const body = (from > 0 ? remote.slice(from) : remote).stream().pipeThrough(counter);
      await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), createWriteStream(part, { flags: from > 0 ? 'a' : 'w' }));
    }
    const got = statSync(part).size;
    if (got !== size) throw new Error(`${what}: downloaded ${got} bytes, the hub lists ${size} (the partial file is kept; run again to resume)`);
    const id = await contentId(part, lfs);
    if (id !== etag) {
      rmSync(part);
      throw new Error(`${what}: the download's ${lfs ? 'sha256' : 'git sha1'} is ${id}, the hub lists ${etag}; the file was removed, run again to download it anew`);
    }
    renameSync(part, blob);
  }
  mkdirSync(dirname(pointer), { recursive: true });
  symlinkSync(relative(dirname(pointer), blob), pointer);
  return pointer;
}

/** Files of a repo folder in the cache; returns the snapshot folder that holds `ref.path`. The
 *  revision is resolved to its commit once, not once per file. */
export async function fetchFiles(ref: HubRef, paths: string[], log?: (line: string) => void): Promise<string> {
  const at = { ...ref, revision: (await commitOf(hub(), ref.repo, ref.revision)).sha };
  let local = '';
  for (const p of paths) {
    const got = await fetchFile(at, p, log);
    local = got.slice(0, got.length - p.length);
  }
  return join(local, ref.path);
}

/**
 * Uploads every file of a local folder to ref.path in ref.repo (created when missing) in one
 * commit; returns the commit's id.
 */
export async function pushFolder(ref: HubRef, localDir: string, files: string[], title: string): Promise<string> {
  const h = hub();
  if (h.offline) throw new Error(`${formatHubRef(ref)}: HF_HUB_OFFLINE is set; cannot push`);
  if (!h.accessToken) throw new Error(`${formatHubRef(ref)}: pushing needs a token with write access; set HF_TOKEN`);
  const auth = { accessToken: h.accessToken, hubUrl: h.hubUrl };
  try {
    if (!(await repoExists({ repo: ref.repo, ...auth }))) await createRepo({ repo: ref.repo, ...auth });
    const operations = await Promise.all(files.map(async (f) => ({
      operation: 'addOrUpdate' as const, path: ref.path ? `${ref.path}/${f}` : f, content: await openAsBlob(join(localDir, f)),
    })));
    const out = await commit({ repo: ref.repo, branch: ref.revision, title, operations, ...auth });
    return out?.commit.oid ?? '';
  } catch (err) {
    throw explain(err, formatHubRef(ref), h);
  }
}
