import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRows } from '../src/db/database.js';
import { CliWorkspace } from './support/cli.js';

// `hub followups run --as-of DATE`: the follow-up job by hand, on the database the hub uses.

let workspace: CliWorkspace;

beforeAll(async () => {
  workspace = await CliWorkspace.create('hub-cli-followups-');
  expect((await workspace.hub(['migrate'])).code).toBe(0);
  expect((await workspace.hub(['seed-demo'])).code).toBe(0);
});
afterAll(async () => {
  await workspace.remove();
});

describe('hub followups run', () => {
  it('runs the job for the day asked, says what it did, and audits the run', async () => {
    const run = await workspace.hub(['followups', 'run', '--as-of', '2026-11-22']);
    expect(run.err).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.out.at(-1)).toBe('follow-up job as of 2026-11-22: 0 raised, 0 closed, 0 escalated');
    const database = await workspace.openSame();
    try {
      const rows = await rawRows<{ n: number }>(database.db, sql`select count(*)::int as n from audit_event where event->>'outcomeDesc' like 'follow-up job as of 2026-11-22:%'`);
      expect(rows[0]?.n).toBe(1);
    } finally {
      await database.close();
    }
  });

  it('refuses a day that is not YYYY-MM-DD, naming the option', async () => {
    const run = await workspace.hub(['followups', 'run', '--as-of', '22/11/2026']);
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toMatch(/--as-of: a date, YYYY-MM-DD/);
  });
});
