import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chainHash, EMPTY_CHAIN } from '../src/audit/log-hash.js';
import { leafHashBytes } from '../src/audit/log-hash.js';
import { MerkleTree } from '../src/audit/merkle-tree.js';
import { signCheckpoint, signReceipt, verifierKeyOf } from '../src/audit/signed-note.js';
import { runCli, type CliIo } from '../src/cli/hub-cli.js';
import { drainAuditQueue } from '../src/db/audit-queries.js';
import { openDatabase, rawRows, type Database } from '../src/db/database.js';
import { AuditLogService } from '../src/services/audit-log-service.js';
import { AuditRecorder } from '../src/services/audit-recorder.js';
import { onDatabase, openTestDatabase, prepareForRoles } from './support/database.js';
import { asSuperuser } from './support/tamper.js';
import { testLogKey } from './support/test-hub.js';

// `hub audit export` and `hub audit verify --bundle`, end to end: a real log
// in a database of each test's own, tampered with as a superuser would
// (triggers off), exported, and verified offline against the checkpoint the
// IG lead saved before the tampering. Each verdict must name the index.

const key = testLogKey('http://hub.test');
const pinned = verifierKeyOf(key);
const SIZE = 40;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hub-bundle-'));
  await writeFile(path.join(dir, 'log.jwk'), JSON.stringify(key.privateKey.export({ format: 'jwk' })), { mode: 0o600 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Log {
  env: Record<string, string>;
  open: () => Promise<Database>;
  /** The checkpoint note the IG lead saved when the log was whole. */
  saved: string;
}

let logs = 0;
let template: { dataDir?: string; url?: string; ownerUrl?: string; adminUrl?: string; saved: string } | undefined;

/**
 * A log of SIZE events with checkpoints every 10, in a fresh database of the
 * test's own (a copy of one built once); the saved checkpoint is the last.
 */
async function freshLog(): Promise<Log> {
  template ??= await buildTemplate();
  logs += 1;
  const dataDir = path.join(dir, `log-${logs}`);
  const env: Record<string, string> = { DATA_DIR: dataDir, AUDIT_LOG_KEY_FILE: path.join(dir, 'log.jwk'), AUDIT_LOG_ORIGIN: key.name, PUBLIC_BASE_URL: 'http://hub.test' };
  await mkdir(dataDir, { recursive: true });
  if (template.dataDir !== undefined) {
    await cp(template.dataDir, path.join(dataDir, 'pglite'), { recursive: true });
    return { env, open: () => openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'pglite') }), saved: template.saved };
  }
  // A copy made by the superuser; the hub command connects as the run's roles (the application role, migrating as the owner).
  const adminServer = template.adminUrl ?? '';
  const name = `${new URL(adminServer).pathname.slice(1)}_copy${logs}`;
  const admin = new pg.Client({ connectionString: adminServer });
  await admin.connect();
  try {
    await admin.query(`create database "${name}" template "${new URL(adminServer).pathname.slice(1)}"`);
  } finally {
    await admin.end();
  }
  const adminCopy = onDatabase(adminServer, name);
  await prepareForRoles(adminCopy);
  env['DATABASE_URL'] = onDatabase(template.url ?? adminServer, name);
  if (template.ownerUrl !== undefined) env['MIGRATION_DATABASE_URL'] = onDatabase(template.ownerUrl, name);
  // Tampering needs the superuser: the application role may not touch the audit tables.
  return { env, open: () => openDatabase({ kind: 'postgres', url: adminCopy }), saved: template.saved };
}

async function buildTemplate(): Promise<{ dataDir?: string; url?: string; ownerUrl?: string; adminUrl?: string; saved: string }> {
  let database: Database;
  let where: { dataDir?: string; url?: string; ownerUrl?: string; adminUrl?: string };
  if (inject('databaseUrl') === '') {
    const dataDir = path.join(dir, 'template');
    database = await openDatabase({ kind: 'pglite', dataDir });
    await database.migrate();
    where = { dataDir };
  } else {
    const made = await openTestDatabase();
    database = made;
    where = { url: made.url ?? '', adminUrl: made.adminUrl ?? '', ...(made.ownerUrl === undefined ? {} : { ownerUrl: made.ownerUrl }) };
  }
  try {
    const clock = (): Date => new Date('2026-09-25T09:00:00Z');
    const recorder = new AuditRecorder({ hubBaseUrl: 'http://hub.test', clock });
    const log = new AuditLogService({ db: database.db, key, clock, logger: pino({ level: 'silent' }) });
    for (let i = 0; i < SIZE; i += 1) {
      await recorder.transaction(database.db, (tx) =>
        recorder.rest(tx, { requestId: `req-${i}` }, { clientId: 'ocean-cc', organisationCode: 'OCEAN', purposeOfUse: 'early-years-registration' }, {
          interaction: 'read',
          outcome: 'success',
          patients: [`Patient/child-${i % 6}`],
          resources: [`Patient/child-${i % 6}/_history/1`],
        }),
      );
      if ((i + 1) % 10 === 0) {
        await drainAuditQueue(database.db, clock, key);
        await log.issueCheckpoint();
      }
    }
    return { ...where, saved: (await log.latest())?.note ?? '' };
  } finally {
    await database.close();
  }
}

async function hub(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => out.push(l), env, fetch: () => Promise.reject(new Error('no network here')) };
  const code = await runCli(['node', 'hub', ...args], io);
  return { code, out: out.join('\n') };
}

/** Tamper (or not), export, then verify the bundle offline with the saved checkpoint and the pinned key. */
async function exportAndVerify(log: Log, tamper?: (db: Database) => Promise<void>): Promise<{ code: number; out: string; bundle: string }> {
  if (tamper !== undefined) {
    const db = await log.open();
    try {
      await tamper(db);
    } finally {
      await db.close();
    }
  }
  const bundle = path.join(log.env['DATA_DIR'] ?? dir, 'bundle.jsonl');
  const exported = await hub(['audit', 'export', '--out', bundle], log.env);
  expect(exported.code, exported.out).toBe(0);
  const savedFile = path.join(log.env['DATA_DIR'] ?? dir, 'saved-checkpoint.txt');
  await writeFile(savedFile, log.saved);
  // Offline: no database (an address nothing listens on) and no network.
  const offline = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', DATA_DIR: path.join(dir, 'nowhere') };
  const verified = await hub(['audit', 'verify', '--bundle', bundle, '--checkpoint', savedFile, '--key', pinned], offline);
  return { ...verified, bundle };
}

const eventAt = async (db: Database, idx: number): Promise<{ seq: number; event: Record<string, unknown> }> => {
  const [row] = await rawRows<{ seq: string | number; event: unknown }>(db.db, sql`select e.seq, e.event from audit_event e join audit_log l on l.event_seq = e.seq where l.idx = ${idx}`);
  return { seq: Number(row?.seq), event: (typeof row?.event === 'string' ? JSON.parse(row.event) : row?.event) as Record<string, unknown> };
};

describe('hub audit export / verify --bundle', () => {
  it('a clean log verifies offline against the saved checkpoint, every checkpoint checked', async () => {
    const log = await freshLog();
    const result = await exportAndVerify(log);
    expect(result.code, result.out).toBe(0);
    expect(result.out).toMatch(/audit log verified \(bundle .*\): \d+ entries up to tree size 40; 4 signed checkpoints match/);
    const lines = (await readFile(result.bundle, 'utf8')).trim().split('\n');
    const header = JSON.parse(lines[0] ?? '') as { verifierKey: string; from: number; to: number };
    expect(header).toMatchObject({ verifierKey: pinned, from: 0 });
    expect(lines.filter((l) => l.includes('"type":"entry"'))).toHaveLength(SIZE);
    // The export is itself audited, after the fact: a second export holds the first one's event.
    const again = await hub(['audit', 'export', '--out', `${result.bundle}.2`], log.env);
    expect(again.code).toBe(0);
    const second = (await readFile(`${result.bundle}.2`, 'utf8')).trim().split('\n');
    expect(second.filter((l) => l.includes(`audit export of entries 0 to ${SIZE - 1} to a bundle`))).toHaveLength(1);
  }, 180_000);

  it('an edited event (hashes left alone) is named', async () => {
    const result = await exportAndVerify(await freshLog(), async (db) => {
      const { seq } = await eventAt(db, 7);
      await asSuperuser(db.db, [sql`update audit_event set event = event || '{"outcome":"8"}'::jsonb where seq = ${seq}`]);
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/FAILED at index 7 .*event-changed/);
  }, 180_000);

  it('an edited event with its leaf and chain hashes rewritten is named by its receipt', async () => {
    const result = await exportAndVerify(await freshLog(), async (db) => {
      const { seq, event } = await eventAt(db, 7);
      const leaf = Buffer.from(leafHashBytes({ ...event, outcome: '8' })).toString('hex');
      await asSuperuser(db.db, [
        sql`update audit_event set event = event || '{"outcome":"8"}'::jsonb, leaf_hash = ${leaf} where seq = ${seq}`,
        sql`update audit_log set leaf_hash = ${leaf} where idx = 7`,
      ]);
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/FAILED at index 7 .*receipt-mismatch/);
  }, 180_000);

  it('a removed entry, the later ones renumbered to hide the gap, is named', async () => {
    const result = await exportAndVerify(await freshLog(), async (db) => {
      const { seq } = await eventAt(db, 12);
      await asSuperuser(db.db, [
        sql`delete from audit_log where idx = 12`,
        sql`delete from audit_event where seq = ${seq}`,
        sql`update audit_log set idx = -idx where idx > 12`,
        sql`update audit_log set idx = -idx - 1 where idx < 0`,
      ]);
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/FAILED at index 12 .*receipt-mismatch/);
  }, 180_000);

  it('a reordered pair of entries is named', async () => {
    const result = await exportAndVerify(await freshLog(), async (db) => {
      await asSuperuser(db.db, [
        sql`update audit_log set idx = -1 where idx = 15`,
        sql`update audit_log set idx = 15 where idx = 16`,
        sql`update audit_log set idx = 16 where idx = -1`,
      ]);
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/FAILED at index 15 .*receipt-mismatch/);
  }, 180_000);

  it('a truncated tail, its checkpoints removed too, is caught by the saved checkpoint', async () => {
    const log = await freshLog();
    const result = await exportAndVerify(log, async (db) => {
      await asSuperuser(db.db, [
        sql`delete from audit_event where seq in (select event_seq from audit_log where idx >= 35)`,
        sql`delete from audit_log where idx >= 35`,
        sql`delete from audit_checkpoint where tree_size > 30`,
      ]);
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/FAILED at index 35 .*truncated/);
  }, 180_000);

  it('a log rewritten and re-signed with the stolen key (a fork) is caught by the saved checkpoint', async () => {
    const result = await exportAndVerify(await freshLog(), async (db) => {
      const rows = await rawRows<{ idx: string | number; seq: string | number; event: unknown }>(db.db, sql`select l.idx, e.seq, e.event from audit_log l join audit_event e on e.seq = l.event_seq order by l.idx`);
      const tree = new MerkleTree();
      const statements = [];
      let prev = EMPTY_CHAIN;
      for (const row of rows) {
        const idx = Number(row.idx);
        let event = (typeof row.event === 'string' ? JSON.parse(row.event) : row.event) as Record<string, unknown>;
        if (idx === 3) {
          event = { ...event, outcome: '8' };
          statements.push(sql`update audit_event set event = ${JSON.stringify(event)}::jsonb where seq = ${Number(row.seq)}`);
        }
        const leaf = leafHashBytes(event);
        tree.append(leaf);
        const leafHex = Buffer.from(leaf).toString('hex');
        const chained = chainHash(prev, leafHex);
        statements.push(sql`update audit_log set leaf_hash = ${leafHex}, prev_hash = ${prev}, chain_hash = ${chained}, receipt = ${signReceipt(key, idx, leaf)} where idx = ${idx}`);
        prev = chained;
      }
      const sizes = await rawRows<{ tree_size: string | number }>(db.db, sql`select tree_size from audit_checkpoint`);
      statements.push(sql`delete from audit_checkpoint`);
      for (const { tree_size } of sizes) {
        const size = Number(tree_size);
        const root = tree.root(size);
        const note = signCheckpoint({ origin: key.name, treeSize: size, rootHash: root, time: new Date('2026-09-26T09:00:00Z') }, key);
        statements.push(sql`insert into audit_checkpoint (tree_size, root_hash, issued, note) values (${size}, ${Buffer.from(root).toString('hex')}, now(), ${note})`);
      }
      await asSuperuser(db.db, statements);
    });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/FAILED at tree size 40 .*fork/);
  }, 180_000);

  it('refuses bad options with a usage error, and a bundle that is not one', async () => {
    const log = await freshLog();
    expect((await hub(['audit', 'export'], log.env)).code).toBe(2); // --out is required
    expect((await hub(['audit', 'export', '--out', path.join(dir, 'x.jsonl'), '--from', 'minus'], log.env)).code).toBe(2);
    const junk = path.join(dir, 'junk.jsonl');
    await writeFile(junk, 'not a bundle\n');
    const bad = await hub(['audit', 'verify', '--bundle', junk], {});
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/line 1 is not JSON/);
  }, 180_000);
});
