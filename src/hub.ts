import type { Express } from 'express';
import { generateKeyPairSync, hkdfSync } from 'node:crypto';
import type { Logger } from 'pino';
import { generateHubKey, loadHubKeys, type HubKeys } from './auth/hub-keys.js';
import type { Database } from './db/database.js';
import { forgetExpiredAssertions, insertHubKeyIfNone, listHubKeys } from './db/registry-queries.js';
import { cursorCodec } from './fhir/cursor-codec.js';
import { loadHubProfiles } from './fhir/profiles.js';
import type { LoadedProtocol } from './protocol/protocol-schema.js';
import { DisclosureService } from './services/disclosure-service.js';
import { loadFhirDefinitions } from './fhir/validator.js';
import { createApp } from './http/app.js';
import { AuditRecorder } from './services/audit-recorder.js';
import { AuditSequencer } from './services/audit-sequencer.js';
import { drainAuditQueue } from './db/audit-queries.js';
import { AuditLogService, type CheckpointPolicy } from './services/audit-log-service.js';
import { defaultLogOrigin } from './services/log-key.js';
import { logKeyFromJwk, type LogKey } from './audit/signed-note.js';
import type { DenialBurst } from './services/decision-audit.js';
import { FhirService } from './services/fhir-service.js';
import { installDefinitions } from './services/definitions.js';
import { IngestService } from './services/ingest-service.js';

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
  /** When checkpoints are signed. */
  checkpoints?: CheckpointPolicy;
  /** Records denied to one client within one window that raise an IG alert (default 20 in 10 minutes). */
  denialBurst?: DenialBurst;
}

export interface Hub {
  app: Express;
  keys: HubKeys;
  sequencer: AuditSequencer;
  auditLog: AuditLogService;
  tokenUrl: string;
  close(): Promise<void>;
}

/** Wires one hub instance from its dependencies. The database must be migrated. */
export async function createHub(options: HubOptions): Promise<Hub> {
  const { database, baseUrl, logger } = options;
  const clock = options.clock ?? (() => new Date());
  const db = database.db;
  loadFhirDefinitions();
  loadHubProfiles();

  if ((await listHubKeys(db)).length === 0) {
    await insertHubKeyIfNone(db, await generateHubKey(), clock());
  }
  const stored = await listHubKeys(db);
  const keys = await loadHubKeys(stored);
  // Search cursors are sealed with a key every instance derives from the shared signing key.
  const signing = (stored[0]?.privateJwk as { d?: string } | undefined)?.d;
  if (signing === undefined) throw new Error('the hub signing key has no private part');
  const cursors = cursorCodec(new Uint8Array(hkdfSync('sha256', Buffer.from(signing, 'base64url'), 'eyhub', 'search-cursor', 32)));
  const disclosure = new DisclosureService({ protocols: options.protocols, clock });

  const logKey = options.logKey ?? ephemeralLogKey(baseUrl);
  const auditLog = new AuditLogService({ db, key: logKey, clock, logger, drain: () => drainAuditQueue(db, clock, logKey), ...(options.checkpoints === undefined ? {} : { policy: options.checkpoints }) });
  const sequencer = new AuditSequencer(db, clock, logger, logKey, () => auditLog.afterSequenced());
  const audit = new AuditRecorder({ hubBaseUrl: baseUrl, clock, onAppended: () => { sequencer.nudge(); } });
  await installDefinitions(db, audit, clock);
  const audience = { issuer: baseUrl, audience: `${baseUrl}/fhir` };
  const tokenUrl = `${baseUrl}/auth/token`;
  const fhir = new FhirService({ db, audit, clock, baseUrl, version: HUB_VERSION, disclosure, cursors, denialBurst: options.denialBurst });
  const app = createApp({
    db,
    keys,
    audience,
    clock,
    audit,
    baseUrl,
    bodyLimit: options.bodyLimit ?? '1mb',
    logger,
    fhir,
    ingest: new IngestService({ db, audit, clock, protocols: options.protocols }),
    token: { db, keys, audience, tokenUrl, clock, audit },
    auditLog,
    protocols: options.protocols,
  });

  sequencer.start(options.sequenceIntervalMs ?? 500);
  const maintenance = setInterval(() => {
    forgetExpiredAssertions(db, new Date(clock().getTime() - 3_600_000)).catch(() => undefined);
  }, 60_000);
  maintenance.unref();

  return {
    app,
    keys,
    sequencer,
    auditLog,
    tokenUrl,
    close: async () => {
      clearInterval(maintenance);
      await sequencer.stop();
      await sequencer.flush();
    },
  };
}

/** A key for this process only (tests, throwaway hubs): its checkpoints cannot be checked after a restart. */
function ephemeralLogKey(baseUrl: string): LogKey {
  return logKeyFromJwk(defaultLogOrigin(baseUrl), generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));
}
