import type pg from 'pg';
import { parentPid } from './cpu.js';

// Which PostgreSQL processes do a benchmark's work, so that their CPU counts
// as the run's and not as other processes' (BENCH.md rule 6). Only a server
// on this machine has processes a benchmark can see: one reached over
// loopback, or through a Unix-domain socket, whose "host" is the directory
// holding it. node-postgres takes that directory from the URL's host,
// percent-encoded (postgres://user@%2Fvar%2Frun%2Fpostgresql/db), or from a
// `host` parameter, which wins over the URL's host
// (postgres:///db?host=/var/run/postgresql).
// See: https://node-postgres.com/features/connecting#unix-domain-sockets

/** The host a connection URL reaches, as node-postgres reads it: a name, an address, a socket's directory or '' (the default). */
export function serverHost(url: string): string {
  const parsed = new URL(url);
  const param = parsed.searchParams.get('host');
  if (param !== null) return param;
  return decodeURIComponent(parsed.hostname).replace(/^\[(.+)\]$/, '$1');
}

/** Whether a connection URL reaches a server on this machine, whose processes a benchmark can count. */
export function isServerOnThisMachine(url: string): boolean {
  const host = serverHost(url);
  return host === '' || host === 'localhost' || host === '::1' || host.startsWith('127.') || host.startsWith('/');
}

/**
 * The PostgreSQL processes doing a benchmark's work on a server on this
 * machine: the backends connected to the given databases (the control
 * connection's own when none is named), the server's background processes
 * (no database) and the postmaster. None for a server elsewhere.
 */
export async function postgresPids(control: pg.Client, adminUrl: string, databases?: readonly string[]): Promise<number[]> {
  if (!isServerOnThisMachine(adminUrl)) return [];
  const rows = await control.query<{ pid: number }>(
    'select pid from pg_stat_activity where datname = any(coalesce($1::text[], array[current_database()::text])) or datname is null',
    [databases ?? null],
  );
  const backends = rows.rows.map((r) => r.pid);
  const postmaster = backends[0] === undefined ? undefined : parentPid(backends[0]);
  return [...backends, ...(postmaster === undefined ? [] : [postmaster])];
}
