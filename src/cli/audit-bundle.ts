import { randomUUID } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { z } from 'zod';
import { BUNDLE_TYPE, verifyBundle, type BundleReport } from '../audit/bundle.js';
import { canonicalJson } from '../audit/canonical-json.js';
import type { LogVerdict } from '../audit/log-verifier.js';
import type { LogKey } from '../audit/signed-note.js';
import type { Config } from '../config.js';
import { checkpointsFrom, drainAuditQueue, readLogEntries } from '../db/audit-queries.js';
import type { Database } from '../db/database.js';
import { AuditLogService, LogInconsistentError } from '../services/audit-log-service.js';
import { AuditRecorder } from '../services/audit-recorder.js';
import { pino } from 'pino';
import { bundleLines } from './bundle-lines.js';

// `hub audit export` writes a bundle (src/audit/bundle.ts) of a stretch of
// the log; `hub audit verify --bundle` checks one with no database and no
// network; `hub audit verify` alone checks the stored log against its
// checkpoints and receipts.

export interface BundleIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const count = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const exportOptions = z.strictObject({ from: count.default(0), to: count.optional(), out: z.string().min(1) });
const verifyOptions = z.strictObject({ bundle: z.string().min(1), checkpoint: z.string().min(1).optional(), key: z.string().min(1).optional() });

export async function auditExport(
  io: BundleIo,
  opts: unknown,
  config: Config,
  key: LogKey,
  withDatabase: <T>(work: (database: Database) => Promise<T>) => Promise<T>,
): Promise<number> {
  const parsed = exportOptions.safeParse(opts);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) io.err(`--${issue.path.map(String).join('.')}: ${issue.message}`);
    return 2;
  }
  const { from, out } = parsed.data;
  return withDatabase(async (database) => {
    await database.migrate();
    const db = database.db;
    const clock = (): Date => new Date();
    const log = new AuditLogService({ db, key, clock, logger: pino({ level: 'silent' }), drain: () => drainAuditQueue(db, clock, key) });
    await log.catchUp();
    await drainAuditQueue(db, clock, key);
    let signed;
    try {
      signed = await log.issueCheckpoint({ drain: true });
    } catch (err) {
      if (!(err instanceof LogInconsistentError)) throw err;
      io.err(`warning: no checkpoint signed for this export: ${err.message}`);
    }
    const size = await log.sync();
    const to = Math.min(parsed.data.to ?? size, size);
    if (from > to) {
      io.err(`--from ${from} is beyond the end of the log (${size} entries)`);
      return 2;
    }
    // Checkpoints in the stretch; when it runs to the log's end, those beyond too (a truncation shows).
    const checkpoints = await checkpointsFrom(db, from, to === size ? undefined : to);
    const file = await open(out, 'wx', 0o600).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw err;
    });
    if (file === undefined) {
      io.err(`${out} exists: choose another file`);
      return 2;
    }
    let written = 0;
    try {
      const header = {
        type: BUNDLE_TYPE,
        version: 1,
        origin: log.origin,
        verifierKey: log.verifierKey,
        from,
        to,
        exported: clock().toISOString(),
        frontier: (await log.frontier(from)).map((h) => Buffer.from(h).toString('base64')),
      };
      await file.write(`${JSON.stringify(header)}\n`);
      for (const cp of checkpoints) await file.write(`${JSON.stringify({ type: 'checkpoint', note: cp.note })}\n`);
      let chunk = '';
      for await (const entry of readLogEntries(db, from, to)) {
        // The event as its canonical JSON, the bytes its leaf hash is over: the verifier hashes them as they stand.
        const event = eventText(entry.event);
        chunk += `${JSON.stringify({ type: 'entry', index: entry.index, leafHash: entry.leafHash, receipt: entry.receipt }).slice(0, -1)},"event":${event}}\n`;
        written += 1;
        if (chunk.length > 1 << 20) {
          await file.write(chunk);
          chunk = '';
        }
      }
      await file.write(chunk);
    } finally {
      await file.close();
    }
    // Reading the log is itself audited: the export is recorded after it, naming the stretch.
    const recorder = new AuditRecorder({ hubBaseUrl: config.publicBaseUrl, clock });
    await recorder.transaction(db, (tx) =>
      recorder.rest(tx, { requestId: randomUUID() }, { clientId: 'hub-cli', purposeOfUse: 'audit' }, {
        interaction: 'operation',
        outcome: 'success',
        outcomeDesc: `audit export of entries ${from} to ${to - 1} to a bundle`,
        resourceType: 'AuditEvent',
      }),
    );
    await drainAuditQueue(db, clock, key);
    io.out(`exported entries ${from}..${to - 1} (${written}) and ${checkpoints.length} checkpoints to ${out}`);
    if (signed !== undefined) io.out(`latest checkpoint: tree size ${signed.treeSize}, signed ${signed.issued.toISOString()}`);
    io.out(`verifier key: ${log.verifierKey}`);
    return 0;
  });
}

/** An event's canonical JSON; as it is when it has none (a row edited in the database: the verifier names it). */
function eventText(event: unknown): string {
  if (event === null || event === undefined) return 'null';
  try {
    return canonicalJson(event);
  } catch {
    return JSON.stringify(event);
  }
}

/** Offline: needs the bundle, optionally a saved checkpoint and the pinned key, nothing else. */
export async function auditVerifyBundle(io: BundleIo, opts: unknown): Promise<number> {
  const parsed = verifyOptions.safeParse(opts);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) io.err(`--${issue.path.map(String).join('.')}: ${issue.message}`);
    return 2;
  }
  const { bundle, checkpoint, key } = parsed.data;
  const saved = checkpoint === undefined ? undefined : await readFile(checkpoint, 'utf8');
  const pinnedKey = key === undefined ? undefined : key.includes('+') ? key : (await readFile(key, 'utf8')).trim();
  const report = await verifyBundle(bundleLines(bundle), { pinnedKey, saved });
  printVerdict(io, report, `bundle ${bundle}`);
  return report.ok ? 0 : 1;
}

/** Prints a verdict: a first line that says it all, then warnings. */
export function printVerdict(io: BundleIo, report: LogVerdict | BundleReport, what: string): void {
  const finding = report.finding;
  if (report.ok) {
    const latest = report.latest === undefined ? 'no checkpoint in range' : `latest checkpoint tree size ${report.latest.treeSize} signed ${report.latest.time}`;
    io.out(`audit log verified (${what}): ${report.entries} entries up to tree size ${report.treeSize}; ${report.checkpointsChecked} signed checkpoints match; ${latest}`);
  } else if (finding !== undefined) {
    const where = finding.index === undefined ? (finding.treeSize === undefined ? '' : ` at tree size ${finding.treeSize}`) : ` at index ${finding.index}`;
    io.out(`audit log FAILED${where} (${what}): ${finding.problem}: ${finding.detail}`);
  }
  for (const warning of report.warnings) io.out(`warning: ${warning}`);
}
