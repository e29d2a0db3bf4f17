import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

// What the fault suite and the soak share about their PostgreSQL server (a
// temporary one of their own, temporary-postgres.ts) and the hub's CLI: a
// client a stopped server cannot crash, and `hub audit verify`.

const run = promisify(execFile);

/** A client of the bench's own, which a stopped server must not crash (its next query fails instead). */
export function connectedClient(connectionString: string): pg.Client {
  const client = new pg.Client({ connectionString });
  client.on('error', () => undefined);
  return client;
}

/** `hub audit verify` as an operator runs it, against the database and DATA_DIR given. */
export async function auditVerify(databaseUrl: string, dataDir: string): Promise<{ passed: boolean; line: string }> {
  const result = await run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'audit', 'verify'], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: databaseUrl, DATA_DIR: dataDir },
  }).then((r) => ({ code: 0, out: r.stdout }), (err: unknown) => {
    const failed = err as { code?: number; stdout?: string };
    return { code: failed.code ?? 1, out: failed.stdout ?? '' };
  });
  const lines = result.out.trim().split('\n');
  const last = lines.filter((l) => l.includes('verified') || l.includes('FAIL')).pop() ?? lines.pop() ?? '';
  return { passed: result.code === 0, line: `hub audit verify: exit ${result.code}; ${last}` };
}
