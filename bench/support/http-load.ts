import autocannon from 'autocannon';
import type { LoadFigures } from './load.js';

// The HTTP side of a pair: autocannon (BENCH.md rule 7), closed loop, a fixed
// number of keep-alive connections, every request's path (and body) chosen afresh.

export interface HttpLoad {
  url: string;
  connections: number;
  seconds: number;
  headers: Record<string, string>;
  /** Called once per request: the path (and query) to send. */
  path: () => string;
  /** When given, every request is a POST of what this returns (called once per request); else a GET. */
  body?: () => string;
  signal: AbortSignal;
}

/** How much of a failed response's body an error message quotes. */
const QUOTED = 500;

export async function runHttpLoad(load: HttpLoad): Promise<LoadFigures> {
  load.signal.throwIfAborted();
  const { body } = load;
  // The first failure's answer, so that a refused run says why.
  let firstFailure: string | undefined;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: load.url,
        connections: load.connections,
        duration: load.seconds,
        timeout: 10,
        headers: load.headers,
        requests: [
          {
            method: body === undefined ? 'GET' : 'POST',
            setupRequest: (request) => ({ ...request, path: load.path(), ...(body === undefined ? {} : { body: body() }) }),
            onResponse: (status, responseBody) => {
              if (firstFailure === undefined && (status < 200 || status > 299)) firstFailure = `${status} ${responseBody.slice(0, QUOTED)}`;
            },
          },
        ],
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
    const why = firstFailure === undefined ? '' : `; the first answered ${firstFailure}`;
    throw new Error(`HTTP load had ${result.errors} errors, ${result.timeouts} timeouts and ${result.non2xx} non-2xx responses${why}`);
  }
  return {
    completed: result.requests.total,
    seconds: result.duration,
    perSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}
