/**
 * A local stand-in for the Hugging Face hub on 127.0.0.1, speaking the URL layout and headers
 * its client uses: model info by revision, the tree and paths-info APIs, resolve URLs (LFS
 * files redirected to a CDN path; ETag, Content-Length, Range → 206 with Content-Range,
 * X-Repo-Commit; 404 with X-Error-Code: EntryNotFound), repo creation, and uploads (preupload,
 * the LFS batch API with basic PUT transfers, NDJSON commits). Faults for tests: a download cut
 * after some bytes, a corrupted body, a required token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const isLfs = (path: string): boolean => /\.(safetensors|npz|npy|bin|pt|png)$/.test(path);
const gitOid = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Snapshot { sha: string; title: string; files: Map<string, Buffer> }
interface Repo { main: string; commits: Map<string, Snapshot> }

export class LocalHub {
  readonly repos = new Map<string, Repo>();
  readonly lfsStore = new Map<string, Buffer>();
  /** every request, "METHOD path Range", for assertions */
  readonly requests: string[] = [];
  /** bytes after which the next download of a path is cut (the connection destroyed) */
  readonly cut = new Map<string, number>();
  /** paths whose next download has one byte flipped */
  readonly corrupt = new Set<string>();
  token?: string;
  url = '';
  #server?: Server;

  /** Adds (or replaces) a repo whose main branch holds `files`; returns the commit id. */
  putRepo(name: string, files: Record<string, Buffer | string>, title = 'initial commit'): string {
    const repo = this.repos.get(name) ?? { main: '', commits: new Map() };
    const snap: Snapshot = { sha: randomBytes(20).toString('hex'), title, files: new Map(Object.entries(files).map(([p, b]) => [p, Buffer.from(b)])) };
    repo.commits.set(snap.sha, snap);
    repo.main = snap.sha;
    this.repos.set(name, repo);
    return snap.sha;
  }

  snapshot(name: string, rev = 'main'): Snapshot | undefined {
    const repo = this.repos.get(name);
    return repo?.commits.get(rev === 'main' ? repo.main : rev);
  }

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: Error) => this.#json(res, 500, { error: err.message }));
    });
    await new Promise<void>((ok) => this.#server!.listen(0, '127.0.0.1', ok));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((ok) => this.#server ? this.#server.close(() => ok()) : ok());
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  async #body(req: IncomingMessage): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    return Buffer.concat(parts);
  }

  #entry(path: string, b: Buffer, snap: Snapshot) {
    return {
      type: 'file', path, size: b.length, oid: gitOid(b),
      ...(isLfs(path) ? { lfs: { oid: sha256(b), size: b.length, pointerSize: 134 } } : {}),
      lastCommit: { id: snap.sha, title: snap.title, date: new Date(0).toISOString() },
    };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url!, this.url);
    const p = decodeURIComponent(url.pathname);
    this.requests.push(`${req.method} ${p}${req.headers.range ? ' ' + req.headers.range : ''}`);
    if (this.token && req.headers.authorization !== `Bearer ${this.token}` && !p.startsWith('/cdn/') && !p.startsWith('/lfs-upload/')) {
      return this.#json(res, 401, { error: 'Invalid credentials in Authorization header' });
    }
    let m: RegExpExecArray | null;
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(p))) {
      const snap = this.snapshot(m[1]!, m[2] === 'HEAD' ? 'main' : m[2]);
      if (!snap) return this.#json(res, 404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
      return this.#json(res, 200, { _id: m[1], id: m[1], sha: snap.sha, private: false, lastModified: new Date(0).toISOString(), siblings: [...snap.files.keys()].map((rfilename) => ({ rfilename })) });
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)$/.exec(p))) {
      return this.repos.has(m[1]!) ? this.#json(res, 200, { id: m[1] }) : this.#json(res, 404, { error: 'Repository not found' });
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(p))) {
      const snap = this.snapshot(m[1]!, m[2]);
      if (!snap) return this.#json(res, 404, { error: 'Revision not found' });
      const prefix = m[3] ? m[3].replace(/\/$/, '') + '/' : '';
      const recursive = url.searchParams.get('recursive') === 'true';
      const out = [...snap.files].filter(([f]) => f.startsWith(prefix) && (recursive || !f.slice(prefix.length).includes('/'))).map(([f, b]) => this.#entry(f, b, snap));
      return this.#json(res, 200, out);
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/([^/]+)$/.exec(p)) && req.method === 'POST') {
      const snap = this.snapshot(m[1]!, m[2]);
      if (!snap) return this.#json(res, 404, { error: 'Revision not found' });
      const { paths } = JSON.parse((await this.#body(req)).toString()) as { paths: string[] };
      return this.#json(res, 200, paths.filter((f) => snap.files.has(f)).map((f) => this.#entry(f, snap.files.get(f)!, snap)));
    }
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p))) {
      const snap = this.snapshot(m[1]!, m[2]);
      const file = snap?.files.get(m[3]!);
      if (!snap || !file) return this.#json(res, 404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' });
      if (isLfs(m[3]!)) {
        this.lfsStore.set(sha256(file), file);
        res.writeHead(302, { location: `/cdn/${sha256(file)}?path=${encodeURIComponent(m[3]!)}`, 'x-repo-commit': snap.sha, 'x-linked-etag': `"${sha256(file)}"`, 'x-linked-size': String(file.length) });
        return void res.end();
      }
      return this.#serve(req, res, m[3]!, file, { etag: `"${gitOid(file)}"`, 'x-repo-commit': snap.sha });
    }
    if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(p))) {
      const file = this.lfsStore.get(m[1]!);
      if (!file) return this.#json(res, 404, { error: 'no such object' });
      return this.#serve(req, res, url.searchParams.get('path') ?? m[1]!, file, { etag: `"${m[1]}"` });
    }
    if (p === '/api/repos/create' && req.method === 'POST') {
      const body = JSON.parse((await this.#body(req)).toString()) as { name: string; organization?: string };
      const name = `${body.organization}/${body.name}`;
      if (this.repos.has(name)) return this.#json(res, 409, { error: 'You already created this model repo' });
      this.putRepo(name, { '.gitattributes': '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' });
      return this.#json(res, 200, { url: `${this.url}/${name}` });
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/preupload\/([^/]+)$/.exec(p)) && req.method === 'POST') {
      const { files } = JSON.parse((await this.#body(req)).toString()) as { files: { path: string }[] };
      return this.#json(res, 200, { files: files.map((f) => ({ path: f.path, uploadMode: isLfs(f.path) ? 'lfs' : 'regular' })) });
    }
    if ((m = /^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(p)) && req.method === 'POST') {
      const { objects } = JSON.parse((await this.#body(req)).toString()) as { objects: { oid: string; size: number }[] };
      return this.#json(res, 200, {
        transfer: 'basic',
        objects: objects.map((o) => ({ oid: o.oid, size: o.size, ...(this.lfsStore.has(o.oid) ? {} : { actions: { upload: { href: `${this.url}/lfs-upload/${o.oid}` } } }) })),
      }, { 'content-type': 'application/vnd.git-lfs+json' });
    }
    if ((m = /^\/lfs-upload\/([0-9a-f]{64})$/.exec(p)) && req.method === 'PUT') {
      const body = await this.#body(req);
      if (sha256(body) !== m[1]) return this.#json(res, 400, { error: 'sha256 mismatch' });
      this.lfsStore.set(m[1]!, body);
      return void res.writeHead(200).end();
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/commit\/([^/]+)$/.exec(p)) && req.method === 'POST') {
      const repo = this.repos.get(m[1]!);
      if (!repo) return this.#json(res, 404, { error: 'Repository not found' });
      const files = new Map(repo.commits.get(repo.main)!.files);
      let title = '';
      for (const line of (await this.#body(req)).toString().split('\n').filter(Boolean)) {
        const { key, value } = JSON.parse(line) as { key: string; value: Record<string, string> };
        if (key === 'header') title = value.summary ?? '';
        else if (key === 'file') files.set(value.path!, Buffer.from(value.content!, 'base64'));
        else if (key === 'lfsFile') {
          const blob = this.lfsStore.get(value.oid!);
          if (!blob) return this.#json(res, 422, { error: `LFS object ${value.oid} was not uploaded` });
          files.set(value.path!, blob);
        } else if (key === 'deletedFile') files.delete(value.path!);
      }
      const sha = this.putRepo(m[1]!, Object.fromEntries(files), title);
      return this.#json(res, 200, { commitOid: sha, commitUrl: `${this.url}/${m[1]}/commit/${sha}` });
    }
    this.#json(res, 404, { error: `local hub: no route for ${req.method} ${p}` });
  }

  /** A file body with range support and the fault injections. */
  #serve(req: IncomingMessage, res: ServerResponse, path: string, file: Buffer, headers: Record<string, string>): void {
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0, end = file.length - 1;
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), file.length - 1) : file.length - 1;
      if (start >= file.length) return void res.writeHead(416, { 'content-range': `bytes */${file.length}` }).end();
    }
    let body = file.subarray(start, end + 1);
    const full = !range || (start === 0 && end === file.length - 1);
    const ranged = range && !(start === 0 && end === 0) || (range && file.length === 1);
    if (this.corrupt.has(path) && (full || ranged)) {
      this.corrupt.delete(path);
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    res.writeHead(range ? 206 : 200, {
      ...headers, 'accept-ranges': 'bytes', 'content-length': String(body.length), 'content-type': 'application/octet-stream',
      ...(range ? { 'content-range': `bytes ${start}-${end}/${file.length}` } : {}),
    });
    const cut = this.cut.get(path);
    if (cut !== undefined && body.length > 1) {
      this.cut.delete(path);
      // the first bytes, then a clean close (FIN) mid-body, a moment later: the client reads
      // what was sent and then sees the connection end early. (destroy() could reset the
      // connection before the client had read the bytes; and a FIN right behind the bytes can
      // error the client's body stream while the bytes still wait in its queue, which a stream
      // error discards — both leave nothing to resume from, and the test would be a race.)
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.end(), 300));
      return;
    }
    res.end(body);
  }
}
