import { generateKeyPairSync } from 'node:crypto';
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { logKeyFromJwk } from '../src/audit/signed-note.js';
import { appendAuditEvent, drainAuditQueue, sequenceAuditEvents } from '../src/db/audit-queries.js';
import { inTransaction, openDatabase, rawRows } from '../src/db/database.js';
import { AuditLogService } from '../src/services/audit-log-service.js';
import { decisionEventSource } from './support/audit-events.js';
import { createBenchDatabase } from './support/bench-database.js';

// `npx tsx bench/audit-size.ts`: the database size of the audit log per
// million entries. A database of its own on the server of DATABASE_URL
// (default the local one), migrated; AUDIT_SIZE_ENTRIES (100,000) disclosure
// decision events as the hub writes them (bench/support/audit-events.ts, the
// hub's decisionAuditEvent) appended in transactions of 50 with the hub's
// appendAuditEvent, sequenced with the hub's sequencer (a receipt per entry,
// the tiles) and AuditLogService (a signed checkpoint at its default policy),
// as a running hub would; then VACUUM ANALYZE and pg_total_relation_size of
// each audit table (heap, indexes, TOAST). The database is dropped after.

const ADMIN = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ENTRIES = Number(process.env['AUDIT_SIZE_ENTRIES'] ?? 100_000);
const TABLES = ['audit_event', 'audit_log', 'audit_tile', 'audit_checkpoint', 'audit_queue'] as const;
const clock = (): Date => new Date();

async function main(): Promise<void> {
  const bench = await createBenchDatabase(ADMIN);
  const database = await openDatabase({ kind: 'postgres', url: bench.url, poolSize: 2 });
  try {
    await database.migrate();
    const db = database.db;
    const key = logKeyFromJwk('bench.eastside.example/audit-log', generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
    const log = new AuditLogService({ db, key, clock, logger: pino({ level: 'silent' }), drain: () => drainAuditQueue(db, clock, key) });
    const next = decisionEventSource(20_261_122, new Date('2026-09-01T07:00:00Z'));
    const started = Date.now();
    let eventBytes = 0;
    for (let written = 0; written < ENTRIES; ) {
      const events = Array.from({ length: Math.min(50, ENTRIES - written) }, () => next());
      eventBytes += events.reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e)), 0);
      await inTransaction(db, async (tx) => {
        for (const event of events) await appendAuditEvent(tx, event);
      });
      written += events.length;
      if (written % 1_000 === 0) {
        while ((await sequenceAuditEvents(db, clock, key, 500)) > 0) await log.afterSequenced();
      }
      if (written % 20_000 === 0) console.log(`  ${written} entries, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    await drainAuditQueue(db, clock, key);
    await log.afterSequenced();
    await db.execute(sql`vacuum analyze`);
    const sizes = await rawRows<{ name: string; total: string; heap: string; indexes: string; toast: string; rows: string }>(
      db,
      sql.raw(
        TABLES.map(
          (t) => `select '${t}' as name, pg_total_relation_size('${t}') as total, pg_relation_size('${t}') as heap, pg_indexes_size('${t}') as indexes,
            pg_total_relation_size('${t}') - pg_relation_size('${t}') - pg_indexes_size('${t}') as toast, (select count(*) from ${t}) as rows`,
        ).join(' union all '),
      ),
    );
    const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
    const perMillion = (bytes: number): string => `${((bytes / ENTRIES) * 1_000_000 / 1024 ** 3).toFixed(2)} GB`;
    console.log(`${ENTRIES} entries in ${((Date.now() - started) / 1000).toFixed(0)} s; events ${(eventBytes / ENTRIES).toFixed(0)} bytes of JSON each on average`);
    console.log('table              rows      total MB  heap MB  index MB  toast MB  per million entries');
    let total = 0;
    for (const row of sizes) {
      total += Number(row.total);
      console.log(
        `${row.name.padEnd(18)} ${row.rows.padStart(8)}  ${mb(Number(row.total)).padStart(8)} ${mb(Number(row.heap)).padStart(8)} ${mb(Number(row.indexes)).padStart(9)} ${mb(Number(row.toast)).padStart(9)}  ${perMillion(Number(row.total))}`,
      );
    }
    console.log(`all audit tables: ${mb(total)} MB, ${(total / ENTRIES).toFixed(0)} bytes per entry, ${perMillion(total)} per million entries`);
  } finally {
    await database.close();
    await bench.drop();
  }
}

await main();
