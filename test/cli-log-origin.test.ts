import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { drainAuditQueue } from '../src/db/audit-queries.js';
import { AuditLogService } from '../src/services/audit-log-service.js';
import { AuditRecorder } from '../src/services/audit-recorder.js';
import { loadOrCreateLogKey } from '../src/services/log-key.js';
import { CliWorkspace } from './support/cli.js';

// Finding 11: the log's identity (its checkpoint origin) is fixed when the
// log key is made, and kept with it. A hub moved to another port or public
// URL still signs, and `hub audit verify` still checks, under the same name.

let workspace: CliWorkspace;

beforeAll(async () => {
  workspace = await CliWorkspace.create('hub-log-origin-');
});
afterAll(async () => {
  await workspace.remove();
});

describe('the log origin', () => {
  it('is chosen when the log is created under one PORT and kept: `hub audit verify` under another PORT and URL passes and shows it', async () => {
    expect((await workspace.hub(['migrate'])).code).toBe(0);
    // The hub as main.ts starts it with PORT=8080 and no PUBLIC_BASE_URL.
    const createdUnder = loadConfig({ ...workspace.env, PORT: '8080' });
    const key = await loadOrCreateLogKey(createdUnder);
    expect(key.name).toBe('localhost:8080/audit-log');
    const stored = JSON.parse(await readFile(createdUnder.auditLogKeyFile, 'utf8')) as { origin?: string };
    expect(stored.origin).toBe('localhost:8080/audit-log');
    expect(path.dirname(createdUnder.auditLogKeyFile)).toBe(path.join(workspace.dataDir, 'keys'));

    const database = await workspace.openSame();
    try {
      const clock = (): Date => new Date('2026-09-25T09:00:00Z');
      const recorder = new AuditRecorder({ hubBaseUrl: 'http://localhost:8080', clock });
      const log = new AuditLogService({ db: database.db, key, clock, logger: pino({ level: 'silent' }) });
      for (let i = 0; i < 6; i += 1) {
        await recorder.transaction(database.db, (tx) =>
          recorder.rest(tx, { requestId: `req-${i}` }, { clientId: 'ocean-cc', organisationCode: 'OCEAN', purposeOfUse: 'early-years-registration' }, {
            interaction: 'read',
            outcome: 'success',
            patients: ['Patient/child-1'],
            resources: ['Patient/child-1/_history/1'],
          }),
        );
        if (i % 3 === 2) {
          await drainAuditQueue(database.db, clock, key);
          await log.issueCheckpoint();
        }
      }
    } finally {
      await database.close();
    }

    // Restarted on another port, behind another public URL: the same log.
    const moved = { PORT: '9090', PUBLIC_BASE_URL: 'https://hub.eastside.example' };
    expect((await loadOrCreateLogKey(loadConfig({ ...workspace.env, ...moved }))).name).toBe('localhost:8080/audit-log');
    const verified = await workspace.hub(['audit', 'verify'], moved);
    const text = verified.out.join('\n');
    expect(text).toMatch(/log origin: localhost:8080\/audit-log/);
    expect(text).toMatch(/audit log verified \(stored log\): 6 entries up to tree size 6; 2 signed checkpoints match/);
    expect(verified.code).toBe(0);
  }, 60_000);

  it('keeps a stored origin over AUDIT_LOG_ORIGIN, which names only a log created after it is set', async () => {
    const env = { ...workspace.env, DATA_DIR: path.join(workspace.dataDir, 'second'), AUDIT_LOG_ORIGIN: 'eastside.example/hub-log' };
    expect((await loadOrCreateLogKey(loadConfig(env))).name).toBe('eastside.example/hub-log');
    expect((await loadOrCreateLogKey(loadConfig({ ...env, AUDIT_LOG_ORIGIN: 'elsewhere.example/log' }))).name).toBe('eastside.example/hub-log');
  });
});
