import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parentPid } from '../../bench/support/cpu.js';
import { isServerOnThisMachine, postgresPids, serverHost } from '../../bench/support/postgres-pids.js';

// Which server a benchmark's DATABASE_URL reaches decides whether the
// PostgreSQL processes' CPU counts as the run's or as other processes'.

const socket = 'postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres';

describe('the server a benchmark URL reaches', () => {
  it.each([
    ['postgres://postgres@127.0.0.1:5432/postgres', '127.0.0.1'],
    ['postgres://postgres@localhost/postgres', 'localhost'],
    ['postgres://postgres@[::1]:5432/postgres', '::1'],
    [socket, '/var/run/postgresql'],
    ['postgres://postgres@127.0.0.1/postgres?host=/tmp', '/tmp'],
    ['postgres://postgres@db.example.org:5432/postgres', 'db.example.org'],
    ['postgres://postgres@10.1.2.3/postgres', '10.1.2.3'],
  ])('%s reaches %s, as node-postgres reads it', (url, host) => {
    expect(serverHost(url)).toBe(host);
    expect(new pg.Client({ connectionString: url }).host).toBe(host);
  });

  it.each([
    ['postgres://postgres@127.0.0.1:5432/postgres', true],
    ['postgres://postgres@127.0.1.1/postgres', true],
    ['postgres://postgres@localhost/postgres', true],
    ['postgres://postgres@[::1]:5432/postgres', true],
    ['postgres:///postgres', true],
    [socket, true],
    ['postgres://postgres@db.example.org/postgres?host=/var/run/postgresql', true],
    ['postgres://postgres@db.example.org:5432/postgres', false],
    ['postgres://postgres@127.0.0.1/postgres?host=db.example.org', false],
    ['postgres://postgres@10.1.2.3/postgres', false],
    ['postgres://postgres@[2001:db8::1]/postgres', false],
  ])('%s is on this machine: %s', (url, local) => {
    expect(isServerOnThisMachine(url)).toBe(local);
  });

  it('counts no PostgreSQL process of a server elsewhere, without asking it', async () => {
    // A control connection that was never opened: a query on it would wait for ever, and the test would time out.
    const control = new pg.Client({ connectionString: 'postgres://postgres@db.example.org/postgres' });
    await expect(postgresPids(control, 'postgres://postgres@db.example.org/postgres')).resolves.toEqual([]);
  });
});

const localServer = process.env.DATABASE_URL !== undefined && isServerOnThisMachine(process.env.DATABASE_URL);

describe.runIf(localServer)('the PostgreSQL processes of a run on this machine', () => {
  it('counts the control connection’s own backend, the background processes and the postmaster', async () => {
    const url = process.env.DATABASE_URL ?? '';
    const control = new pg.Client({ connectionString: url });
    await control.connect();
    try {
      const own = await control.query<{ pid: number }>('select pg_backend_pid() as pid');
      // The checkpointer, the WAL writer and the like serve no one database (visible to any role, unlike backend_type).
      const background = await control.query<{ pid: number }>('select pid from pg_stat_activity where datname is null');
      expect(background.rows.length).toBeGreaterThan(0);
      const pids = await postgresPids(control, url);
      expect(pids).toContain(own.rows[0]?.pid);
      for (const row of background.rows) expect(pids).toContain(row.pid);
      expect(pids).toContain(parentPid(own.rows[0]?.pid ?? 0));
      // Named databases: another database's backends only, not the control connection's own.
      const elsewhere = await postgresPids(control, url, ['no_such_database']);
      expect(elsewhere).not.toContain(own.rows[0]?.pid);
      for (const row of background.rows) expect(elsewhere).toContain(row.pid);
    } finally {
      await control.end();
    }
  });
});
