import path from 'node:path';
import { z } from 'zod';
import { openDatabase } from '../db/database.js';
import { ensureRoles, grantDatabase, isRoleName } from '../db/roles.js';
import type { CliIo } from './hub-cli.js';

// `hub db roles`: the two PostgreSQL roles of a least-privilege deployment
// (README "Two database roles"). Idempotent: run it again to change a
// password or to re-apply the grants.

const roleName = z.string().refine(isRoleName, 'a role name: lower-case letters, digits and "_", starting with a letter or "_"');
const postgresUrl = z.url({ protocol: /^postgres(ql)?$/ });

const rolesOptions = z.object({
  owner: roleName,
  app: roleName,
  ownerPassword: z.string().min(1).optional(),
  appPassword: z.string().min(1).optional(),
  adminUrl: postgresUrl.optional(),
  dataDir: z.string().min(1),
});

/** Options on the command line win over the environment (DATABASE_OWNER_ROLE, DATABASE_APP_ROLE, their _PASSWORDs, DATABASE_ADMIN_URL). */
export async function dbRoles(io: CliIo, opts: Record<string, unknown>): Promise<number> {
  const env = io.env;
  const parsed = rolesOptions.safeParse({
    owner: opts['owner'] ?? env['DATABASE_OWNER_ROLE'] ?? 'hub_owner',
    app: opts['app'] ?? env['DATABASE_APP_ROLE'] ?? 'hub_app',
    ownerPassword: opts['ownerPassword'] ?? env['DATABASE_OWNER_PASSWORD'],
    appPassword: opts['appPassword'] ?? env['DATABASE_APP_PASSWORD'],
    adminUrl: opts['adminUrl'] ?? env['DATABASE_ADMIN_URL'] ?? env['DATABASE_URL'],
    dataDir: env['DATA_DIR'] ?? './data',
  });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) io.err(`--${issue.path.map((p) => String(p).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join('.')}: ${issue.message}`);
    return 2;
  }
  const o = parsed.data;
  if (o.owner === o.app) {
    io.err('--app: the application role must differ from the owner role');
    return 2;
  }
  const database = await openDatabase(o.adminUrl === undefined ? { kind: 'pglite', dataDir: path.join(o.dataDir, 'pglite') } : { kind: 'postgres', url: o.adminUrl, poolSize: 1 });
  try {
    await ensureRoles(database.db, o);
    await grantDatabase(database.db, o);
  } finally {
    await database.close();
  }
  if (o.adminUrl === undefined) io.out('note: no DATABASE_ADMIN_URL or DATABASE_URL: roles made in the embedded database, where the hub always runs as its superuser');
  io.out(`roles ready: ${o.owner} owns the tables and runs migrations (MIGRATION_DATABASE_URL); ${o.app} serves (DATABASE_URL)`);
  io.out(`${o.app} may not change the audit tables, disable or drop their triggers, or set session_replication_role`);
  return 0;
}
