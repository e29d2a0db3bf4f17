import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.js';
import { createHub } from '../src/hub.js';
import { CliWorkspace, type CliRun } from './support/cli.js';
import { asSuperuser } from './support/tamper.js';

// The hub command as a newcomer uses it: migrate, seed the demo, get a token
// from a running hub, verify the audit log (and see it fail after tampering).

let workspace: CliWorkspace;

beforeAll(async () => {
  workspace = await CliWorkspace.create('hub-cli-');
});
afterAll(async () => {
  await workspace.remove();
});

const hub = (args: string[], extraEnv: Record<string, string> = {}): Promise<CliRun> => workspace.hub(args, extraEnv);
const openSame = (): Promise<Database> => workspace.openSame();

describe('hub CLI', () => {
  it('migrates, seeds the demo world with keys kept out of the repo, issues a token and verifies the log', async () => {
    expect((await hub(['migrate'])).out.join('\n')).toMatch(/^migrated/);
    const seeded = await hub(['seed-demo']);
    expect(seeded.code).toBe(0);
    const keyFile = path.join(workspace.dataDir, 'demo', 'ocean-cc.jwk.json');
    expect(((await stat(keyFile)).mode & 0o777).toString(8)).toBe('600');

    // A running hub on that database, as `npm start` would leave it.
    const database = await openSame();
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const running = await createHub({ database, baseUrl, logger: pino({ level: 'silent' }), protocols: [] });
    server.on('request', running.app);
    try {
      const token = await hub(['token', '--client', 'ocean-cc', '--purpose', 'early-years-registration'], { HUB_URL: baseUrl });
      expect(token.code).toBe(0);
      const accessToken = token.out.at(-1) ?? '';
      expect(accessToken.split('.')).toHaveLength(3);
      const search = await fetch(`${baseUrl}/fhir/Patient`, { headers: { Authorization: `Bearer ${accessToken}` } });
      expect(search.status).toBe(200);

      const refused = await hub(['token', '--client', 'ocean-cc', '--purpose', 'direct-care'], { HUB_URL: baseUrl });
      expect(refused.code).toBe(1);
      expect(refused.err.join('\n')).toMatch(/purpose_of_use direct-care is not permitted/);
      const unknown = await hub(['token', '--client', 'nobody', '--purpose', 'direct-care'], { HUB_URL: baseUrl });
      expect(unknown.code).toBe(2);
      expect(unknown.err.join('\n')).toMatch(/unknown demo client/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
      await running.close();
      await database.close();
    }

    const clean = await hub(['audit', 'verify']);
    expect(clean.code).toBe(0);
    expect(clean.out.join('\n')).toMatch(/audit log verified: [1-9]\d* entries/);

    const tampered = await workspace.openAdmin();
    try {
      await asSuperuser(tampered.db, [
        sql`update audit_event set event = event || '{"outcomeDesc":"rewritten"}'::jsonb where seq = (select event_seq from audit_log where idx = 2)`,
      ]);
    } finally {
      await tampered.close();
    }
    const caught = await hub(['audit', 'verify']);
    expect(caught.code).toBe(1);
    expect(caught.out.join('\n')).toMatch(/FAILED at index 2: event-changed/);
  }, 240_000); // opens the embedded database five times over, one process after another, and now checks every tile

  it('refuses an unknown command with a usage error', async () => {
    expect((await hub(['frobnicate'])).code).toBe(2);
  });
});
