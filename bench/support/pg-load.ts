import pg from 'pg';
import { percentile, type LoadFigures } from './load.js';
import { elapsedSeconds } from './time.js';

// The raw side of a pair: node-postgres clients, each running the baseline's
// transaction back to back (closed loop), as the hub's pool would if the hub
// itself cost nothing. node-postgres sends parameterised queries with the
// extended protocol, like pgbench -M extended (BENCH.md).

export interface PgClients {
  clients: pg.Client[];
  close(): Promise<void>;
}

export async function openPgClients(url: string, count: number, name: string): Promise<PgClients> {
  const clients: pg.Client[] = [];
  const close = async (): Promise<void> => {
    await Promise.allSettled(clients.map((c) => c.end()));
  };
  try {
    for (let i = 0; i < count; i += 1) {
      const client = new pg.Client({
        connectionString: url,
        application_name: name,
        connectionTimeoutMillis: 10_000,
        statement_timeout: 30_000,
        query_timeout: 35_000,
      });
      await client.connect();
      clients.push(client);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { clients, close };
}

/**
 * Runs work on every client until seconds have passed (or the signal aborts),
 * timing each call. A failing call fails the run: a baseline that errors is no limit.
 */
export async function drivePgClients(
  clients: readonly pg.Client[],
  work: (client: pg.Client) => Promise<void>,
  seconds: number,
  signal: AbortSignal,
): Promise<LoadFigures> {
  signal.throwIfAborted();
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(seconds * 1e9));
  await Promise.all(
    clients.map(async (client) => {
      while (!signal.aborted) {
        const begun = process.hrtime.bigint();
        if (begun >= deadline) return;
        await work(client);
        latencies.push(Number(process.hrtime.bigint() - begun) / 1e6);
      }
    }),
  );
  signal.throwIfAborted();
  const elapsed = elapsedSeconds(started);
  latencies.sort((a, b) => a - b);
  return {
    completed: latencies.length,
    seconds: elapsed,
    perSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

/** One transaction; rolled back if any statement fails, so the client stays usable. */
export async function inPgTransaction(client: pg.Client, work: () => Promise<void>): Promise<void> {
  await client.query('begin');
  try {
    await work();
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}
