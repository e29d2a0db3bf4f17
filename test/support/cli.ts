import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { runCli, type CliIo } from '../../src/cli/hub-cli.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { openTestDatabase } from './database.js';

/** What one run of the hub command printed, and its exit code. */
export interface CliRun {
  code: number;
  out: string[];
  err: string[];
}

/**
 * A DATA_DIR of the test file's own and the database the hub command will
 * use there: the embedded one in DATA_DIR, or a server database of the
 * file's own when the suite runs on PostgreSQL.
 */
export class CliWorkspace {
  private constructor(
    readonly dataDir: string,
    readonly env: Record<string, string | undefined>,
  ) {}

  static async create(prefix: string): Promise<CliWorkspace> {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), prefix));
    if (inject('databaseUrl') === '') return new CliWorkspace(dataDir, { DATA_DIR: dataDir });
    const database = await openTestDatabase();
    await database.close();
    const workspace = new CliWorkspace(dataDir, { DATA_DIR: dataDir, DATABASE_URL: database.url, MIGRATION_DATABASE_URL: database.ownerUrl });
    workspace.adminUrl = database.adminUrl;
    return workspace;
  }

  /** A superuser's connection string to the database (PostgreSQL only). */
  private adminUrl: string | undefined;

  /** Runs `hub <args>` in-process with this workspace's environment (plus `extraEnv`). */
  async hub(args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), env: { ...this.env, ...extraEnv }, fetch: (...a) => fetch(...a) };
    const code = await runCli(['node', 'hub', ...args], io);
    return { code, out, err };
  }

  /** Opens the database the hub command uses (close it before the next command on PGlite). */
  openSame(): Promise<Database> {
    const url = this.env['DATABASE_URL'];
    return url === undefined ? openDatabase({ kind: 'pglite', dataDir: path.join(this.dataDir, 'pglite') }) : openDatabase({ kind: 'postgres', url });
  }

  /** Opens the database as a superuser, to tamper with it (the hub command's own role may not). */
  openAdmin(): Promise<Database> {
    return this.adminUrl === undefined ? this.openSame() : openDatabase({ kind: 'postgres', url: this.adminUrl });
  }

  async remove(): Promise<void> {
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
