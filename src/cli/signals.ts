/** Ctrl-C and SIGTERM for long commands: an AbortSignal the job stops on (with a checkpoint). */
export async function withStopSignal<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((sig) => [sig, () => stop.abort(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  try {
    return await job(stop.signal);
  } finally {
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}
