import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inTransaction, openDatabase } from '../src/db/database.js';
import { upsertOrganisation } from '../src/db/registry-queries.js';
import { demoOrganisations } from '../src/demo/world.js';
import { createHub, type Hub } from '../src/hub.js';
import { createLogger } from '../src/logger.js';
import { loadProtocols, prepareDemoPolicies } from '../src/services/protocol-store.js';
import { loadScheduleFile } from '../src/services/schedule-store.js';
import { withBenchDatabase } from './support/bench-database.js';
import type { Benchmark, BenchContext } from './support/benchmark.js';
import { postgresPids } from './support/postgres-pids.js';
import { preloadHistories } from './support/history-preload.js';
import { auditTotals, describeSetting, drainAuditQueue } from './support/hub-db.js';
import { median, percentile, type LoadFigures } from './support/load.js';
import { runPairs, type LoadSide } from './support/pairs.js';
import { formatPairReport } from './support/report.js';
import { isEntryPoint, runAlone } from './support/runner.js';
import { elapsedSeconds } from './support/time.js';

// `npm run bench -- followups` (or `npx tsx bench/follow-up-job.ts`): the
// follow-up job (src/services/follow-up-job.ts, `hub.followUps.run(asOf)`)
// over BENCH_PATIENTS (100,000) children whose practice sent a complete
// immunisation history (support/history-preload.ts: the shapes ingest of
// `POST /ingest/immunisations-csv?history=complete` stores; most children
// complete for their age, 15 % with one or two doses missing), against a
// plain SQL scan of the same rows in the same run.
//
// The job runs in this process on its own pool, as `hub followups run` does.
// Its first run as of AS_OF raises the overdue-dose Tasks (and their
// ImmunizationRecommendations); it is timed once, alone, and reported apart.
// The measured pairs time re-runs as of the same day, which read every
// complete-history List, each child's Patient and Immunizations and open
// Tasks, and change nothing (checked: a re-run that raises or closes anything
// fails the benchmark). Baseline: one node-postgres client streaming
// `select content from resource where type in ('List', 'Immunization',
// 'Patient')` through a cursor, 1,000 rows a fetch: every row the job must
// read, read once, with no index lookups and no logic. Both sides are whole
// passes, repeated until BENCH_SECONDS pass (at least one), and reported as
// children per second; CHECKPOINT and a drained audit queue before each run.

/** A fixed day, so the histories and figures do not depend on the date of the run. */
const AS_OF = '2026-11-22';
/** When the practice sent its file: the day before. */
const SENT_AT = new Date('2026-11-21T12:00:00Z');
const SCANNED_TYPES = ['List', 'Immunization', 'Patient'] as const;
const FETCH = 1_000;

interface JobRun {
  ms: number;
  raised: number;
  closed: number;
  escalated: number;
}

/** The job's clock: AS_OF morning, ticking, so Tasks are raised on the day assessed. */
function jobClock(): () => Date {
  const offset = Date.parse(`${AS_OF}T09:00:00Z`) - Date.now();
  return () => new Date(Date.now() + offset);
}

async function runJob(hub: Hub): Promise<JobRun> {
  const started = process.hrtime.bigint();
  const run = await hub.followUps.run(AS_OF);
  const ms = elapsedSeconds(started) * 1000;
  if (!run.ran) throw new Error('the job did not run: another run held its lock');
  return { ms, raised: run.raised.length, closed: run.closed.length, escalated: run.escalated.length };
}

/** Whole passes until seconds have passed (at least one); children per second. */
function wholePasses(label: string, children: number, pass: () => Promise<void>): LoadSide {
  return {
    label,
    unit: 'children/s',
    async run(seconds: number, signal: AbortSignal): Promise<LoadFigures> {
      const passMs: number[] = [];
      const started = process.hrtime.bigint();
      do {
        signal.throwIfAborted();
        const t0 = process.hrtime.bigint();
        await pass();
        passMs.push(elapsedSeconds(t0) * 1000);
      } while (elapsedSeconds(started) < seconds);
      const elapsed = elapsedSeconds(started);
      const sorted = [...passMs].sort((a, b) => a - b);
      const completed = passMs.length * children;
      return { completed, seconds: elapsed, perSecond: completed / elapsed, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
    },
  };
}

/** Streams every row of the scanned types through a cursor; returns how many were read. */
async function scan(client: pg.Client): Promise<number> {
  let rows = 0;
  let bytes = 0;
  await client.query('begin');
  try {
    await client.query(`declare scan no scroll cursor for select content from resource where type in (${SCANNED_TYPES.map((t) => `'${t}'`).join(', ')})`);
    for (;;) {
      const page = await client.query<{ content: { resourceType?: string } }>(`fetch ${FETCH} from scan`);
      if (page.rows.length === 0) break;
      rows += page.rows.length;
      for (const r of page.rows) bytes += r.content.resourceType?.length ?? 0;
    }
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
  if (bytes === 0 && rows > 0) throw new Error('the scan read rows with no resourceType');
  return rows;
}

/** This process (the job and the scan) and the PostgreSQL processes serving the bench database. */
async function ourPids(control: pg.Client, adminUrl: string): Promise<number[]> {
  return [process.pid, ...(await postgresPids(control, adminUrl))];
}

export async function benchFollowUpJob(context: BenchContext): Promise<void> {
  const { options, signal, log, out } = context;
  const children = options.patients;
  await withBenchDatabase(context, 'followups', async (database, cleanup) => {
    const policies = path.resolve(import.meta.dirname, '..', 'policies');
    const { schedule } = await loadScheduleFile(path.join(policies, 'schedules', 'england-routine.yaml'));
    const dataDir = await mkdtemp(path.join(tmpdir(), 'eyhub-bench-'));
    const protocols = await loadProtocols(await prepareDemoPolicies(policies, dataDir));
    await rm(dataDir, { recursive: true, force: true });

    const hubDb = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 4 });
    cleanup.defer('close the job database pool', () => hubDb.close());
    await hubDb.migrate();
    // The job reads the organisations' types and catchments: health visitors own overdue-dose Tasks.
    await inTransaction(hubDb.db, async (tx) => {
      for (const org of demoOrganisations) await upsertOrganisation(tx, org);
    });

    const control = new pg.Client({ connectionString: database.url, application_name: 'hubbench-control' });
    await control.connect();
    cleanup.defer('close the control connection', () => control.end());
    const scanner = new pg.Client({ connectionString: database.url, application_name: 'hubbench-scan' });
    await scanner.connect();
    cleanup.defer('close the scan connection', () => scanner.end());

    log(`followups: preloading ${children} children with complete histories`);
    const world = await preloadHistories(control, { children, schedule, asOf: AS_OF, sentAt: SENT_AT, protocols, signal, log });
    await control.query('vacuum analyze');

    const hub = await createHub({ database: hubDb, baseUrl: 'http://127.0.0.1:9', logger: createLogger('warn'), protocols, schedules: [schedule], clock: jobClock() });
    cleanup.defer('close the hub', () => hub.close());

    const settle = async (): Promise<void> => {
      await drainAuditQueue(control, signal);
      await control.query('checkpoint');
    };

    await settle();
    log('followups: first run of the job (raises the overdue-dose Tasks)');
    const first = await runJob(hub);
    log(`  first run: ${(first.ms / 1000).toFixed(1)} s, ${first.raised} raised, ${first.closed} closed, ${first.escalated} escalated`);
    if (first.raised !== world.overdue) log(`  ! expected ${world.overdue} overdue-dose Tasks from the histories as generated, the job raised ${first.raised}`);
    const scanned = await scan(scanner);

    log(`followups: ${options.pairs} pairs, each side ${options.warmupSeconds} s warm-up then ${options.seconds} s of whole passes`);
    const pairs = await runPairs({
      pairs: options.pairs,
      seconds: options.seconds,
      warmupSeconds: options.warmupSeconds,
      baseline: wholePasses('a plain SQL scan of the same rows', children, async () => {
        const rows = await scan(scanner);
        if (rows !== scanned) throw new Error(`the scan read ${rows} rows, earlier ${scanned}`);
      }),
      scenario: wholePasses('a re-run of the follow-up job', children, async () => {
        const again = await runJob(hub);
        if (again.raised + again.closed + again.escalated > 0) {
          throw new Error(`a re-run as of ${AS_OF} changed something: ${again.raised} raised, ${again.closed} closed, ${again.escalated} escalated`);
        }
      }),
      beforeRun: settle,
      ourPids: () => ourPids(control, options.adminUrl),
      signal,
      log,
    });
    const totals = await auditTotals(control, signal);
    const setting = await describeSetting(control, world.byType.get('Patient') ?? 0);
    const types = [...world.byType].map(([t, n]) => `${t} ${n}`).join(', ');
    const perChild = first.ms / children;
    const lines = formatPairReport({
      title: 'followups: the follow-up job over children with complete immunisation histories, against a plain SQL scan of the same rows',
      setting: [
        ...setting,
        `data: ${children} children (aged 9 weeks to 5½ years on ${AS_OF}), each with a complete-history List from their practice; ${types}, in the shapes CSV ingest with history=complete stores`,
        `  ${world.childrenOverdue} children (${((100 * world.childrenOverdue) / children).toFixed(1)} %) have ${world.overdue} overdue doses by ${schedule.id} v${schedule.version}`,
        `first run (raises the Tasks; not in the pairs): ${(first.ms / 1000).toFixed(1)} s, ${(children / (first.ms / 1000)).toFixed(0)} children/s (${perChild.toFixed(2)} ms a child); ` +
          `${first.raised} Tasks raised (expected ${world.overdue}), ${first.closed} closed, ${first.escalated} escalated`,
        `scenario (the ratio is over this): re-runs of hub.followUps.run('${AS_OF}') in this process (pool of 4), each changing nothing (checked); one transaction, one AuditEvent per run`,
        `baseline: node-postgres, one client: select content from resource where type in (${SCANNED_TYPES.join(', ')}) through a cursor, ${FETCH} rows a fetch (${scanned} rows a pass)`,
        `runs: ${options.pairs} pairs (baseline first), whole passes until ≥ ${options.seconds} s after ${options.warmupSeconds} s warm-up, CHECKPOINT and drained audit queue before each; p50/p99 are per pass`,
        `audit: ${totals?.events ?? '?'} AuditEvents, ${totals?.logged ?? '?'} in the hash-chained log`,
      ],
      baselineLabel: 'scan',
      baselineUnit: 'children/s',
      scenarioLabel: 'job',
      scenarioUnit: 'children/s',
      pairs,
    });
    const scanRate = median(pairs.map((p) => p.baseline.figures.perSecond));
    const firstRate = children / (first.ms / 1000);
    lines.push(`first run (raising ${first.raised} Tasks) ÷ the median scan: ${(firstRate / scanRate).toFixed(3)} (${firstRate.toFixed(0)} against ${scanRate.toFixed(0)} children/s; one run, not a median)`);
    for (const line of lines) out(line);
  });
}

export const followUpJobBenchmark: Benchmark = {
  summary: 'the follow-up job over 100,000 children with complete immunisation histories against a plain SQL scan of the same rows',
  // Preloading 100,000 children (~1.5 million Immunizations), then the job's first run.
  setupSeconds: 3_600,
  // A whole pass of the job over 100,000 children may take minutes.
  runSlackSeconds: 900,
  run: benchFollowUpJob,
};

if (isEntryPoint(import.meta.url)) await runAlone('followups', followUpJobBenchmark);
