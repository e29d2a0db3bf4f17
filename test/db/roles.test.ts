import type { PGlite } from '@electric-sql/pglite';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli, type CliIo } from '../../src/cli/hub-cli.js';
import { sql } from 'drizzle-orm';
import { openDatabase, rawRows } from '../../src/db/database.js';
import { onDatabase, openTestDatabase } from '../support/database.js';

// Finding 9: the hub's own database role cannot rewrite the audit log. After
// `hub db roles` and a migration as the owner, the application role gets
// SQLSTATE 42501 (insufficient_privilege) for every statement below, from the
// privilege system itself (not the append-only triggers, which a table owner
// or superuser could switch off). On PostgreSQL it logs in as that role; on
// PGlite (one superuser session) it takes the role with SET ROLE.

const runId = inject('runId');
const OWNER = `hub_t${runId}_owner`;
const APP = `hub_t${runId}_app`;
const OWNER_PASSWORD = 'owner-test-only';
const APP_PASSWORD = 'app-test-only';

/** What must fail, and what the error must say (the privilege system's words, not a trigger's). */
const forbidden: [string, RegExp][] = [
  ...['audit_event', 'audit_log', 'audit_checkpoint'].flatMap((table): [string, RegExp][] => [
    [`update ${table} set ${table === 'audit_checkpoint' ? 'note' : 'leaf_hash'} = ${table === 'audit_checkpoint' ? 'note' : 'leaf_hash'}`, /permission denied for table/],
    [`delete from ${table}`, /permission denied for table/],
    [`truncate ${table}`, /permission denied for table/],
  ]),
  ['update ig_alert set reason = reason', /permission denied for table ig_alert/],
  ['delete from ig_alert', /permission denied for table ig_alert/],
  ['truncate ig_alert', /permission denied for table ig_alert/],
  ['alter table audit_log disable trigger audit_log_no_update_delete', /must be owner/],
  ['alter table audit_event disable trigger all', /must be owner/],
  ['alter table ig_alert disable trigger ig_alert_review_only', /must be owner/],
  ['drop trigger audit_log_no_update_delete on audit_log', /must be owner/],
  ['drop trigger audit_checkpoint_no_change on audit_checkpoint', /must be owner/],
  ['drop function audit_refuse_change() cascade', /must be owner/],
  ['set session_replication_role = replica', /permission denied to set parameter "session_replication_role"/],
  ['create table public.shadow_log (x int)', /permission denied for schema public/],
];

/** What the hub itself must still be able to do. */
const allowed = [
  'select count(*) from audit_log',
  'select count(*) from audit_event',
  'update ig_alert set reviewed_at = now(), reviewed_by = reviewed_by, review_note = review_note where false',
  'delete from audit_queue where false',
  'insert into later_table (x) values (1)',
];

type Exec = (statement: string) => Promise<void>;

async function errorOf(exec: Exec, statement: string): Promise<{ code?: string; message?: string } | undefined> {
  try {
    await exec(statement);
    return undefined;
  } catch (err) {
    return err as { code?: string; message?: string };
  }
}

async function expectLeastPrivilege(asApp: Exec): Promise<void> {
  for (const [statement, message] of forbidden) {
    const err = await errorOf(asApp, statement);
    expect(err?.code, `${statement} as the application role`).toBe('42501');
    expect(err?.message, statement).toMatch(message);
  }
  for (const statement of allowed) expect(await errorOf(asApp, statement), statement).toBeUndefined();
}

let dir: string;
const hub = async (args: string[], env: Record<string, string>): Promise<{ code: number; text: string }> => {
  const lines: string[] = [];
  const io: CliIo = { out: (l) => lines.push(l), err: (l) => lines.push(l), env: { DATA_DIR: dir, ...env }, fetch: (...a) => fetch(...a) };
  const code = await runCli(['node', 'hub', ...args], io);
  return { code, text: lines.join('\n') };
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hub-roles-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(inject('databaseUrl') === '')('least-privilege roles on PostgreSQL (skipped without DATABASE_URL)', () => {
  const server = inject('databaseUrl');
  const name = `hubtest_${runId}_roles`;
  const as = (role: string, password: string): string => {
    const url = new URL(onDatabase(server, name));
    url.username = role;
    url.password = password;
    return url.toString();
  };
  const admin = async (statement: string): Promise<void> => {
    const client = new pg.Client({ connectionString: server });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    await admin(`create database "${name}"`);
  });
  afterAll(async () => {
    // Roles are the server's, not the database's: the test's own go once its database has.
    await admin(`drop database if exists "${name}" with (force)`);
    await admin(`drop role if exists "${APP}"`);
    await admin(`drop role if exists "${OWNER}"`);
  });

  it('`hub db roles` makes both roles (idempotently); as the application role every audit-rewriting statement fails with 42501', async () => {
    const env = { DATABASE_ADMIN_URL: onDatabase(server, name), DATABASE_OWNER_PASSWORD: OWNER_PASSWORD, DATABASE_APP_PASSWORD: APP_PASSWORD };
    for (let run = 0; run < 2; run += 1) {
      const made = await hub(['db', 'roles', '--owner', OWNER, '--app', APP], env);
      expect(made.code, made.text).toBe(0);
      expect(made.text).toMatch(new RegExp(`${OWNER} owns the tables`));
    }
    const migrated = await hub(['migrate'], { DATABASE_URL: as(APP, APP_PASSWORD), MIGRATION_DATABASE_URL: as(OWNER, OWNER_PASSWORD) });
    expect(migrated.code, migrated.text).toBe(0);

    // A table a later migration adds is the application role's to use too (default privileges).
    const owner = new pg.Client({ connectionString: as(OWNER, OWNER_PASSWORD) });
    await owner.connect();
    try {
      await owner.query('create table later_table (x int)');
      const owners = await owner.query<{ n: number }>("select count(*)::int as n from pg_tables where schemaname = 'public' and tableowner <> $1", [OWNER]);
      expect(owners.rows[0]?.n).toBe(0);
    } finally {
      await owner.end();
    }

    const app = new pg.Client({ connectionString: as(APP, APP_PASSWORD) });
    await app.connect();
    try {
      const who = await app.query<{ rolsuper: boolean; owns: number }>(
        'select rolsuper, (select count(*)::int from pg_class where relowner = r.oid) as owns from pg_roles r where rolname = current_user',
      );
      expect(who.rows[0]).toEqual({ rolsuper: false, owns: 0 });
      await expectLeastPrivilege(async (statement) => {
        await app.query(statement);
      });
    } finally {
      await app.end();
    }
  }, 60_000);
});

describe.skipIf(inject('databaseRoles') === undefined)('the suite on PostgreSQL with two roles (skipped unless MIGRATION_DATABASE_URL is set, as .ci/run sets it)', () => {
  it('connects every test hub as the application role, which is no superuser and owns no table', async () => {
    const database = await openTestDatabase();
    try {
      const [me] = await rawRows<{ rolsuper: boolean; owns: number; tables: number }>(
        database.db,
        sql`select rolsuper, (select count(*)::int from pg_class where relowner = r.oid) as owns, (select count(*)::int from pg_tables where schemaname = 'public') as tables from pg_roles r where rolname = current_user`,
      );
      expect(me).toEqual({ rolsuper: false, owns: 0, tables: expect.any(Number) as number });
      expect(me?.tables).toBeGreaterThan(10);
      const err = await errorOf(async (statement) => {
        await database.db.execute(sql.raw(statement));
      }, 'set session_replication_role = replica');
      expect((err as { cause?: { code?: string } } | undefined)?.cause?.code).toBe('42501');
    } finally {
      await database.close();
    }
  });
});

describe('least-privilege roles on PGlite', () => {
  it('`hub db roles` on a database migrated before the roles existed passes its tables to the owner; SET ROLE to the application role gets 42501 the same way', async () => {
    expect((await hub(['migrate'], {})).code).toBe(0);
    const made = await hub(['db', 'roles', '--owner', OWNER, '--app', APP], {});
    expect(made.code, made.text).toBe(0);
    const database = await openDatabase({ kind: 'pglite', dataDir: path.join(dir, 'pglite') });
    const client = (database as unknown as { db: { $client: PGlite } }).db.$client;
    try {
      await client.exec(`set role "${OWNER}"; create table later_table (x int); reset role`);
      const owners = await client.query<{ n: number }>("select count(*)::int as n from pg_tables where schemaname = 'public' and tableowner <> $1", [OWNER]);
      expect(owners.rows[0]?.n).toBe(0);
      await client.exec(`set role "${APP}"`);
      await expectLeastPrivilege(async (statement) => {
        await client.query(statement);
      });
    } finally {
      await database.close();
    }
  }, 60_000);
});
