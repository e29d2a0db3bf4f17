import { sql } from 'drizzle-orm';
import { rawRows, type Db } from './database.js';

// Least-privilege roles on PostgreSQL. The OWNER role owns every table and runs
// the migrations; the APPLICATION role, which the hub serves with, owns nothing
// and holds only the table privileges it needs. So the hub's own connection
// cannot change the audit log: no UPDATE, DELETE or TRUNCATE on the audit
// tables, no ALTER TABLE … DISABLE TRIGGER or DROP TRIGGER (both need the
// owner), and no SET session_replication_role (a superuser's setting).
// See: https://www.postgresql.org/docs/current/ddl-priv.html

/** Tables whose rows never change once written: they carry the trigger that refuses it (migrations 0001, 0004). */
const APPEND_ONLY_TRIGGER = 'audit_refuse_change';
/** ig_alert may only be marked reviewed (migration 0004's trigger): the app may update just these columns. */
const REVIEW_ONLY = { table: 'ig_alert', trigger: 'ig_alert_review_only', columns: ['reviewed_at', 'reviewed_by', 'review_note'] } as const;

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface DatabaseRoles {
  owner: string;
  app: string;
}

export interface RoleLogins extends DatabaseRoles {
  /** Passwords to set (LOGIN roles); a role's password is left as it is when none is given. */
  ownerPassword?: string | undefined;
  appPassword?: string | undefined;
}

export function isRoleName(name: string): boolean {
  return ROLE_NAME.test(name);
}

function ident(name: string): ReturnType<typeof sql.identifier> {
  if (!isRoleName(name)) throw new Error(`"${name}" is not a role name: lower-case letters, digits and "_", starting with a letter or "_"`);
  return sql.identifier(name);
}

/** A string literal for statements that take no parameters (CREATE/ALTER ROLE … PASSWORD). */
function literal(text: string): ReturnType<typeof sql.raw> {
  if (text.includes('\0')) throw new Error('a password may not hold a NUL character');
  return sql.raw(`'${text.replaceAll("'", "''")}'`);
}

/**
 * `hub db roles`, part one (cluster-wide): creates both roles, or brings
 * existing ones to these attributes (never superuser, never CREATEROLE or
 * CREATEDB, no row-level-security bypass). Run as a superuser or a CREATEROLE role.
 */
export async function ensureRoles(db: Db, roles: RoleLogins): Promise<void> {
  if (roles.owner === roles.app) throw new Error('the owner and application roles must differ');
  for (const [name, password] of [[roles.owner, roles.ownerPassword], [roles.app, roles.appPassword]] as const) {
    const attributes = sql.join([sql.raw('LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT'), ...(password === undefined ? [] : [sql`PASSWORD ${literal(password)}`])], sql` `);
    const exists = await rawRows<{ n: number }>(db, sql`select count(*)::int as n from pg_roles where rolname = ${name}`);
    if ((exists[0]?.n ?? 0) === 0) {
      try {
        await db.execute(sql`create role ${ident(name)} ${attributes}`);
        continue;
      } catch (err) {
        // Made meanwhile by another run: fall through and bring it to these attributes.
        if ((err as { code?: string }).code !== '42710' && (err as { cause?: { code?: string } }).cause?.code !== '42710') throw err;
      }
    }
    await db.execute(sql`alter role ${ident(name)} ${attributes}`);
  }
}

/**
 * `hub db roles`, part two (this database): the owner may create in it and
 * owns what is already there; the application role may connect and use the
 * schema; nobody else may create in public. Then the application role's grants.
 */
export async function grantDatabase(db: Db, roles: DatabaseRoles): Promise<void> {
  const owner = ident(roles.owner);
  const app = ident(roles.app);
  const [current] = await rawRows<{ name: string }>(db, sql`select current_database() as name`);
  const database = sql.identifier(current?.name ?? '');
  await db.execute(sql`grant connect, create, temporary on database ${database} to ${owner}`);
  await db.execute(sql`grant connect on database ${database} to ${app}`);
  await db.execute(sql`revoke create on schema public from public`);
  await db.execute(sql`grant usage, create on schema public to ${owner}`);
  await db.execute(sql`grant usage on schema public to ${app}`);
  // A database migrated before the roles existed: what it holds passes to the owner.
  const owned = await rawRows<{ kind: string; schema: string; name: string; args: string | null }>(
    db,
    sql`select case c.relkind when 'S' then 'sequence' when 'v' then 'view' else 'table' end as kind, n.nspname as schema, c.relname as name, null as args
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname in ('public', 'drizzle') and c.relkind in ('r', 'p', 'S', 'v') and c.relowner <> (select oid from pg_roles where rolname = ${roles.owner})
           and not (c.relkind = 'S' and exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i')))
        union all
        select 'function', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'public' and p.proowner <> (select oid from pg_roles where rolname = ${roles.owner})`,
  );
  for (const o of owned) {
    const target = sql`${sql.identifier(o.schema)}.${sql.identifier(o.name)}`;
    if (o.kind === 'function') await db.execute(sql`alter function ${target}(${sql.raw(o.args ?? '')}) owner to ${owner}`);
    else await db.execute(sql`alter ${sql.raw(o.kind)} ${target} owner to ${owner}`);
  }
  const drizzleSchema = await rawRows<{ n: number }>(db, sql`select count(*)::int as n from pg_namespace where nspname = 'drizzle'`);
  if ((drizzleSchema[0]?.n ?? 0) > 0) await db.execute(sql`alter schema drizzle owner to ${owner}`);
  await grantApplication(db, roles);
}

/**
 * The application role's table privileges, given again after every migration
 * (by the owner) and by `hub db roles`: read and write on every table, except
 * that the append-only tables take no UPDATE, DELETE or TRUNCATE and ig_alert
 * only an UPDATE of its review columns. Default privileges give tables that
 * later migrations create to the application role too.
 */
export async function grantApplication(db: Db, roles: DatabaseRoles): Promise<void> {
  const owner = ident(roles.owner);
  const app = ident(roles.app);
  // One transaction: the grant on all tables never shows without the revokes that follow it.
  await db.transaction(async (tx) => {
    await tx.execute(sql`alter default privileges for role ${owner} in schema public grant select, insert, update, delete on tables to ${app}`);
    await tx.execute(sql`alter default privileges for role ${owner} in schema public grant usage, select on sequences to ${app}`);
    await tx.execute(sql`grant select, insert, update, delete on all tables in schema public to ${app}`);
    await tx.execute(sql`grant usage, select on all sequences in schema public to ${app}`);
    const guarded = await rawRows<{ name: string; fn: string }>(
      tx,
      sql`select distinct c.relname as name, p.proname as fn
            from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace join pg_proc p on p.oid = t.tgfoid
           where n.nspname = 'public' and not t.tgisinternal and p.proname in (${APPEND_ONLY_TRIGGER}, ${REVIEW_ONLY.trigger})`,
    );
    // Read-only sight of which migrations ran, for /readyz.
    const drizzleSchema = await rawRows<{ n: number }>(tx, sql`select count(*)::int as n from pg_namespace where nspname = 'drizzle'`);
    if ((drizzleSchema[0]?.n ?? 0) > 0) {
      await tx.execute(sql`grant usage on schema drizzle to ${app}`);
      await tx.execute(sql`grant select on all tables in schema drizzle to ${app}`);
    }
    for (const { name, fn } of guarded) {
      const table = sql`public.${sql.identifier(name)}`;
      await tx.execute(sql`revoke update, delete, truncate on ${table} from ${app}`);
      if (fn === REVIEW_ONLY.trigger && name === REVIEW_ONLY.table) {
        await tx.execute(sql`grant update (${sql.join(REVIEW_ONLY.columns.map((c) => sql.identifier(c)), sql`, `)}) on ${table} to ${app}`);
      }
    }
  });
}

/** The role a PostgreSQL URL logs in as. */
export function roleOfUrl(url: string): string {
  return decodeURIComponent(new URL(url).username);
}
