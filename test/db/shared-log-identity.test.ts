import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logKeyFromJwk, type LogKey } from '../../src/audit/signed-note.js';
import { findClient } from '../../src/db/registry-queries.js';
import { readDemoKeys, seedDemoWorld } from '../../src/demo/seed.js';
import { demoClients } from '../../src/demo/world.js';
import { checkLogIdentity } from '../../src/services/log-identity.js';
import { openTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestHub, type TestHub } from '../support/test-hub.js';

// Several instances, one log (issue 13): an instance whose log key or origin
// is not the one the database's log was signed with refuses to start; demo
// seeding from a fresh DATA_DIR never replaces a registered client's key.

function keyNamed(name: string): LogKey {
  return logKeyFromJwk(name, generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
}

describe('the log identity check at start', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t.close();
  });

  it('accepts the key that signed the entries, and refuses another key under the same name by its receipts', async () => {
    await t.token('test-a', 'direct-care');
    await t.hub.sequencer.flush();
    expect(await checkLogIdentity(t.database.db, t.logKey)).toEqual({ ok: true });
    const impostor = keyNamed(t.logKey.name);
    const refused = await checkLogIdentity(t.database.db, impostor);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.reason).toMatch(/receipt this instance's log key .* did not sign: every instance sharing a database must mount the same log key file/);
  });

  it('refuses, once a checkpoint is signed, another origin (naming both) and another key under the same origin', async () => {
    await t.hub.auditLog.issueCheckpoint();
    expect(await checkLogIdentity(t.database.db, t.logKey)).toEqual({ ok: true });
    const renamed = await checkLogIdentity(t.database.db, keyNamed('second.example/audit-log'));
    expect(renamed).toEqual({ ok: false, reason: expect.stringContaining(`the log in this database is named "${t.logKey.name}"`) as unknown });
    if (!renamed.ok) expect(renamed.reason).toContain('"second.example/audit-log"');
    const rekeyed = await checkLogIdentity(t.database.db, keyNamed(t.logKey.name));
    expect(rekeyed).toEqual({ ok: false, reason: expect.stringContaining('was not signed by this instance\'s log key') as unknown });
  });
});

describe('demo seeding over a database that has the clients', () => {
  let database: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    database = await openTestDatabase();
    dir = await mkdtemp(path.join(tmpdir(), 'hub-seed-'));
  });
  afterAll(async () => {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps each registered key when DATA_DIR is fresh, and says which', async () => {
    const first = path.join(dir, 'first');
    const second = path.join(dir, 'second');
    expect(await seedDemoWorld(database.db, first)).toEqual({ keptKeys: [] });
    const ids = demoClients.map((c) => c.id);
    expect((await seedDemoWorld(database.db, second)).keptKeys.sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const registered = (await findClient(database.db, id))?.jwks.keys[0] as Record<string, unknown> | undefined;
      const original = (await readDemoKeys(first, id)).publicJwk;
      expect(registered?.['x']).toBe(original['x']);
      expect(registered?.['x']).not.toBe((await readDemoKeys(second, id)).publicJwk['x']);
    }
    expect(await seedDemoWorld(database.db, first)).toEqual({ keptKeys: [] });
  });
});
