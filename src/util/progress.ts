/**
 * Progress for long work: a redrawn bar with rate and ETA on a terminal, plain lines (about
 * every 10% or 30 s) otherwise, so CI logs stay readable.
 */
export class Progress {
  readonly total: number;
  readonly unit: string;
  readonly label: string;
  #start = performance.now();
  #lastLine = 0;
  #lastFrac = -1;
  #tty: boolean;
  #stream: NodeJS.WriteStream;
  #startDone: number;

  constructor(label: string, total: number, unit = 'tokens', startDone = 0, stream: NodeJS.WriteStream = process.stderr) {
    this.label = label;
    this.total = total;
    this.unit = unit;
    this.#stream = stream;
    this.#tty = Boolean(stream.isTTY) && process.env.CI !== 'true';
    this.#startDone = startDone;
  }

  /** Rate in units/s since this bar started. */
  rate(done: number): number {
    const sec = (performance.now() - this.#start) / 1000;
    return sec > 0 ? (done - this.#startDone) / sec : 0;
  }

  update(done: number, extra = ''): void {
    const frac = Math.min(1, done / this.total);
    const rate = this.rate(done);
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const text = `${this.label} ${(100 * frac).toFixed(1)}% ${fmtCount(done)}/${fmtCount(this.total)} ${this.unit} ` +
      `${fmtCount(rate)} ${this.unit}/s ETA ${fmtTime(eta)}${extra ? ' ' + extra : ''}`;
    if (this.#tty) {
      const width = 24, filled = Math.round(frac * width);
      this.#stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
      return;
    }
    const now = performance.now();
    if (frac - this.#lastFrac >= 0.1 || now - this.#lastLine > 30_000 || frac === 1) {
      this.#lastFrac = frac;
      this.#lastLine = now;
      this.#stream.write(text + '\n');
    }
  }

  done(): void {
    if (this.#tty) this.#stream.write('\n');
  }
}

export function fmtCount(x: number): string {
  if (!Number.isFinite(x)) return '?';
  if (x >= 1e9) return (x / 1e9).toFixed(2) + 'G';
  if (x >= 1e6) return (x / 1e6).toFixed(2) + 'M';
  if (x >= 1e3) return (x / 1e3).toFixed(1) + 'k';
  return x.toFixed(0);
}

export function fmtTime(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
