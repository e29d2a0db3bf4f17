import type { Express } from 'express';
import { generateKeyPairSync } from 'node:crypto';
import type { Logger } from 'pino';
import type { HubKeys } from './auth/hub-keys.js';
import type { Database } from './db/database.js';
import { forgetExpiredAssertions } from './db/registry-queries.js';
import { cursorCodec } from './fhir/cursor-codec.js';
import { loadHubProfiles } from './fhir/profiles.js';
import type { LoadedProtocol } from './protocol/protocol-schema.js';
import type { Schedule } from './followup/schedule-schema.js';
import { DisclosureService } from './services/disclosure-service.js';
import { loadFhirDefinitions } from './fhir/validator.js';
import { createApp } from './http/app.js';
import { ServerLifecycle } from './http/graceful-shutdown.js';
import { inFlightCap, type InFlight } from './http/in-flight.js';
import { newestShippedMigration } from './db/health-queries.js';
import { checkReadiness } from './services/readiness.js';
import { AuditRecorder } from './services/audit-recorder.js';
import type { BatchLimits } from './services/shared-transactions.js';
import { AuditSequencer } from './services/audit-sequencer.js';
import { drainAuditQueue } from './db/audit-queries.js';
import { AuditLogService, type CheckpointPolicy } from './services/audit-log-service.js';
import { defaultLogOrigin } from './services/log-key.js';
import { logKeyFromJwk, type LogKey } from './audit/signed-note.js';
import type { DenialBurst } from './services/decision-audit.js';
import { FhirService } from './services/fhir-service.js';
import { FiguresService } from './services/figures-service.js';
import { installDefinitions } from './services/definitions.js';
import { IngestService } from './services/ingest-service.js';
import { startMllp, type MllpListeners, type MllpOptions } from './mllp/mllp-server.js';
import { DEFAULT_DELIVERY, SubscriptionDelivery, type DeliveryOptions } from './services/subscription-delivery.js';
import { SubscriptionService } from './services/subscription-service.js';
import { DEFAULT_ESCALATE_AFTER_DAYS, runFollowUpJob, type FollowUpRun } from './services/follow-up-job.js';
import { ephemeralSigningKeys } from './services/signing-keys.js';
import { DEFAULT_RATE_LIMITS, RateLimitService, type RateLimits } from './services/rate-limit-service.js';

export const HUB_VERSION = '0.1.0';

export interface HubOptions {
  database: Database;
  baseUrl: string;
  logger: Logger;
  bodyLimit?: string;
  clock?: () => Date;
  /** How often the sequencer looks for events other instances committed. */
  sequenceIntervalMs?: number;
  /** The information-sharing protocols, as loaded (in force or not). */
  protocols: readonly LoadedProtocol[];
  /** The Ed25519 key that signs checkpoints and receipts (kept outside the database). Without one, an ephemeral key. */
  logKey?: LogKey;
  /** The access-token signing keys (kept outside the database: services/signing-keys.ts). Without them, ephemeral keys. */
  signingKeys?: HubKeys;
  /** When checkpoints are signed. */
  checkpoints?: CheckpointPolicy;
  /** Records denied to one client within one window that raise an IG alert (default 20 in 10 minutes). */
  denialBurst?: DenialBurst;
  /** Requests allowed per client and per source address (default DEFAULT_RATE_LIMITS). */
  rateLimits?: RateLimits;
  /** The follow-up job: escalation after (default 14 days), and how often it runs by itself (default never: main.ts sets it). */
  followUps?: { escalateAfterDays?: number; intervalMinutes?: number };
  /** The national immunisation schedules (SCHEDULES_DIR): without one, no dose is ever judged overdue. */
  schedules?: readonly Schedule[];
  /** Load balancers whose X-Forwarded-For gives the client address (TRUST_PROXY); none by default. */
  trustProxy?: readonly string[];
  /** The MLLP listeners for HL7 v2 (MLLP_PORT, MLLP_TLS_PORT); none when undefined. */
  mllp?: MllpOptions | undefined;
  /** Subscription delivery (default DEFAULT_DELIVERY); `worker: false` delivers nothing from this instance. */
  subscriptions?: Partial<DeliveryOptions> & { worker?: boolean };
  /** Requests served at once before a 503 (default 256). */
  maxInFlight?: number;
  /** How reads share transactions (services/shared-transactions.ts; default DEFAULT_BATCH_LIMITS). */
  readBatches?: BatchLimits;
  /** How creates of Patients share transactions (AuditRecorder.sharedWrite; default DEFAULT_BATCH_LIMITS). */
  writeBatches?: BatchLimits;
  /** The longest an audit event may wait to be sequenced before /readyz says not ready (default 30 s). */
  readyMaxSequencerLagMs?: number;
}

export interface Hub {
  app: Express;
  keys: HubKeys;
  sequencer: AuditSequencer;
  auditLog: AuditLogService;
  /** Writes every AuditEvent, in the transaction of the work it records. */
  audit: AuditRecorder;
  tokenUrl: string;
  /** Shutdown state, for the HTTP drain (http/graceful-shutdown.ts). */
  lifecycle: ServerLifecycle;
  /** Requests in progress on this instance. */
  inFlight: InFlight;
  /** Runs the follow-up job for a day (YYYY-MM-DD), as the schedule and `hub followups run` do. */
  followUps: { run(asOf: string): Promise<FollowUpRun> };
  /** The MLLP listeners, when asked for. */
  mllp: MllpListeners | undefined;
  /** Stops the background work and sequences what is committed, waiting at most patienceMs for another instance's sequencer. */
  close(patienceMs?: number): Promise<void>;
}

/** Wires one hub instance from its dependencies. The database must be migrated. */
export async function createHub(options: HubOptions): Promise<Hub> {
  const { database, baseUrl, logger } = options;
  const clock = options.clock ?? (() => new Date());
  const db = database.db;
  loadFhirDefinitions();
  loadHubProfiles();

  const keys = options.signingKeys ?? (await ephemeralSigningKeys(clock));
  // Search cursors are sealed with keys every instance derives from the shared signing keys.
  const cursors = cursorCodec(() => keys.cursorSecrets('search-cursor'));
  const disclosure = new DisclosureService({ protocols: options.protocols, clock });

  const logKey = options.logKey ?? ephemeralLogKey(baseUrl);
  const auditLog = new AuditLogService({ db, key: logKey, clock, logger, drain: () => drainAuditQueue(db, clock, logKey), ...(options.checkpoints === undefined ? {} : { policy: options.checkpoints }) });
  // A log sequenced before tiles existed gets them once, in batches, before this instance sequences.
  const tilesBuilt = await auditLog.catchUp();
  if (tilesBuilt > 0) logger.info({ tiles: tilesBuilt }, 'audit log tiles built from the stored leaf hashes');
  const sequencer = new AuditSequencer(db, clock, logger, logKey, () => auditLog.afterSequenced());
  // After each audited commit: the log is extended, and notifications the commit queued are sent soon.
  const deliveries = { nudge: (): void => undefined };
  const audit = new AuditRecorder({ hubBaseUrl: baseUrl, clock, batches: options.readBatches, writeBatches: options.writeBatches, onAppended: () => { sequencer.nudge(); deliveries.nudge(); } });
  await installDefinitions(db, audit, clock);
  const audience = { issuer: baseUrl, audience: `${baseUrl}/fhir` };
  const tokenUrl = `${baseUrl}/auth/token`;
  const schedules = options.schedules ?? [];
  const fhir = new FhirService({ db, audit, clock, baseUrl, version: HUB_VERSION, disclosure, cursors, denialBurst: options.denialBurst, schedules });
  // On PostgreSQL the counters live in the shared database, so every instance enforces one limit.
  const ingest = new IngestService({ db, audit, clock, protocols: options.protocols, disclosure, schedules });
  const rateLimits = new RateLimitService({ db, audit, logger, limits: options.rateLimits ?? DEFAULT_RATE_LIMITS, pool: database.pool });
  const subscriptionDeps = { db, audit, clock, disclosure, fhirBase: `${baseUrl}/fhir` };
  const delivery = new SubscriptionDelivery({ ...subscriptionDeps, logger, options: { ...DEFAULT_DELIVERY, ...options.subscriptions } });
  deliveries.nudge = () => { delivery.nudge(); };
  const lifecycle = new ServerLifecycle();
  const cap = inFlightCap(options.maxInFlight ?? 256);
  const readinessDeps = {
    db,
    clock,
    protocols: options.protocols,
    shippedMigration: await newestShippedMigration(),
    maxSequencerLagMs: options.readyMaxSequencerLagMs ?? 30_000,
    stopping: () => lifecycle.stopping,
  };
  const app = createApp({
    lifecycle,
    readiness: () => checkReadiness(readinessDeps),
    inFlightCap: cap.middleware,
    db,
    rateLimits,
    keys,
    audience,
    clock,
    audit,
    baseUrl,
    bodyLimit: options.bodyLimit ?? '1mb',
    logger,
    fhir,
    figures: new FiguresService({ db, audit, clock }),
    ingest,
    subscriptions: new SubscriptionService(subscriptionDeps),
    token: { db, keys, audience, tokenUrl, clock, audit },
    auditLog,
    protocols: options.protocols,
    trustProxy: options.trustProxy,
  });

  const followUpDeps = { db, audit, clock, protocols: options.protocols, disclosure, schedules, escalateAfterDays: options.followUps?.escalateAfterDays ?? DEFAULT_ESCALATE_AFTER_DAYS };
  const followUps = { run: (asOf: string) => runFollowUpJob(followUpDeps, asOf) };
  const followUpTimer = scheduleFollowUps(followUps, clock, logger, options.followUps?.intervalMinutes ?? 0);

  // HL7 v2 over MLLP takes the same ingest path as POST /ingest/hl7v2.
  const mllp = options.mllp === undefined ? undefined : await startMllp({ db, audit, ingest, clock, logger }, options.mllp);

  sequencer.start(options.sequenceIntervalMs ?? 500);
  if (options.subscriptions?.worker !== false) delivery.start();
  const maintenance = setInterval(() => {
    forgetExpiredAssertions(db, new Date(clock().getTime() - 3_600_000)).catch(() => undefined);
    // A key rotated by `hub keys rotate` (or another instance) is taken up within a minute.
    keys.reload().catch((err: unknown) => {
      logger.error({ err }, 'could not read the signing keys again: signing with the ones held');
    });
  }, 60_000);
  maintenance.unref();

  return {
    app,
    keys,
    sequencer,
    auditLog,
    audit,
    tokenUrl,
    lifecycle,
    inFlight: cap.inFlight,
    followUps,
    mllp,
    close: async (patienceMs?: number) => {
      await mllp?.close();
      clearInterval(maintenance);
      if (followUpTimer !== undefined) clearInterval(followUpTimer);
      await delivery.stop();
      await sequencer.stop();
      await sequencer.flush(patienceMs);
    },
  };
}

/**
 * The follow-up job in a running hub, for today, every `minutes` (0: never).
 * Every instance schedules it; the run's lock lets one at a time through and a
 * re-run changes nothing.
 */
function scheduleFollowUps(followUps: Hub['followUps'], clock: () => Date, logger: Logger, minutes: number): NodeJS.Timeout | undefined {
  if (minutes <= 0) return undefined;
  const timer = setInterval(() => {
    const asOf = clock().toISOString().slice(0, 10);
    followUps
      .run(asOf)
      .then((run) => {
        logger.info({ asOf, ran: run.ran, raised: run.raised.length, closed: run.closed.length, escalated: run.escalated.length }, 'follow-up job');
      })
      .catch((err: unknown) => {
        logger.error({ err, asOf }, 'follow-up job failed: it runs again at the next interval');
      });
  }, minutes * 60_000);
  timer.unref();
  return timer;
}

/** A key for this process only (tests, throwaway hubs): its checkpoints cannot be checked after a restart. */
function ephemeralLogKey(baseUrl: string): LogKey {
  return logKeyFromJwk(defaultLogOrigin(baseUrl), generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
}
