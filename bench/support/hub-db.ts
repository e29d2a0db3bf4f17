import type pg from 'pg';
import type { HubProcess } from './hub-process.js';
import { postgresPids } from './postgres-pids.js';
import { withDeadline } from './time.js';

// What the benchmarks that drive the hub ask of its database through a plain
// control connection: the settings the figures depend on, the audit queue,
// and which PostgreSQL processes are doing the benchmark's work.

/** Server settings and data sizes that the figures depend on. Refuses a server without durable commits (BENCH.md rule 3). */
export async function describeSetting(control: pg.Client, patients: number): Promise<string[]> {
  const settings = await control.query<{ name: string; setting: string }>(
    `select name, current_setting(name) as setting from unnest(array['server_version', 'synchronous_commit', 'fsync', 'shared_buffers']) as name`,
  );
  const value = (name: string): string => settings.rows.find((r) => r.name === name)?.setting ?? '?';
  if (value('synchronous_commit') !== 'on') throw new Error(`synchronous_commit is ${value('synchronous_commit')}; BENCH.md requires on`);
  const size = await control.query<{ avg: string; total: string }>(
    `select round(avg(octet_length(content::text))) as avg, pg_size_pretty(pg_database_size(current_database())) as total from resource`,
  );
  const warning = patients < 100_000 ? ' (below the 100k BENCH.md asks for)' : '';
  return [
    `data: ${patients} Patients${warning}, ~${size.rows[0]?.avg ?? '?'} bytes of JSON each, database ${size.rows[0]?.total ?? '?'}`,
    `server: PostgreSQL ${value('server_version')}, synchronous_commit=${value('synchronous_commit')}, fsync=${value('fsync')}, shared_buffers=${value('shared_buffers')}`,
    `started ${new Date().toISOString()}`,
  ];
}

export async function queueLength(control: pg.Client): Promise<number> {
  const rows = await control.query<{ n: number }>('select count(*)::int as n from audit_queue');
  return rows.rows[0]?.n ?? 0;
}

/** Waits until the hub's sequencer has given every event its log place, so its work does not spill into the next run. */
export async function drainAuditQueue(control: pg.Client, signal: AbortSignal): Promise<void> {
  const wait = async (): Promise<void> => {
    while ((await queueLength(control)) > 0) {
      signal.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  await withDeadline(wait(), 120_000, 'draining the audit queue');
}

/** After the last run: waits for the sequencer, then counts what the hub wrote to its audit log. */
export async function auditTotals(control: pg.Client, signal: AbortSignal): Promise<{ events: string; logged: string } | undefined> {
  await drainAuditQueue(control, signal);
  const chain = await control.query<{ events: string; logged: string }>(
    'select (select count(*) from audit_event) as events, (select count(*) from audit_log) as logged',
  );
  return chain.rows[0];
}

/**
 * The processes doing this benchmark's work: this one, the hub, and (when the
 * server is on this machine) the PostgreSQL processes serving the bench
 * database, its background processes and the postmaster.
 */
export async function ourPids(control: pg.Client, hub: HubProcess, adminUrl: string): Promise<number[]> {
  return [process.pid, hub.pid, ...(await postgresPids(control, adminUrl))];
}

/**
 * The client backends on the bench's server of a database (the bench's own
 * when none is named): those of connections named `application`, or of every
 * connection but the bench's own (named hubbench-…) when none is given.
 */
export async function clientBackends(control: pg.Client, of: { database?: string; application?: string } = {}): Promise<number[]> {
  const rows = await control.query<{ pid: number }>(
    `select pid from pg_stat_activity
      where datname = coalesce($1, current_database()) and backend_type = 'client backend'
        and (case when $2::text is null then application_name not like 'hubbench%' else application_name = $2 end)`,
    [of.database ?? null, of.application ?? null],
  );
  return rows.rows.map((r) => r.pid);
}

export function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}
