import autocannon from 'autocannon';
import type { LoadFigures } from './load.js';

// The HTTP side of a pair: autocannon (BENCH.md rule 7), closed loop, a fixed
// number of keep-alive connections, every request's path chosen afresh.

export interface HttpLoad {
  url: string;
  connections: number;
  seconds: number;
  headers: Record<string, string>;
  /** Called once per request: the path (and query) to send. */
  path: () => string;
  signal: AbortSignal;
}

export async function runHttpLoad(load: HttpLoad): Promise<LoadFigures> {
  load.signal.throwIfAborted();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: load.url,
        connections: load.connections,
        duration: load.seconds,
        timeout: 10,
        headers: load.headers,
        requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: load.path() }) }],
      },
      (err: unknown, done) => {
        load.signal.removeEventListener('abort', onAbort);
        if (err !== null && err !== undefined) reject(err instanceof Error ? err : new Error(`autocannon failed: ${JSON.stringify(err)}`));
        else resolve(done);
      },
    );
    const onAbort = (): void => {
      instance.stop();
    };
    load.signal.addEventListener('abort', onAbort, { once: true });
  });
  load.signal.throwIfAborted();
  // A run with failures measures error paths, not the interaction: refuse its figures.
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(`HTTP load had ${result.errors} errors, ${result.timeouts} timeouts and ${result.non2xx} non-2xx responses`);
  }
  return {
    completed: result.requests.total,
    seconds: result.duration,
    perSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}
