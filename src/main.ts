import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, type Config } from './config.js';
import type { MllpOptions } from './mllp/mllp-server.js';
import { openDatabase } from './db/database.js';
import { seedDemoWorld } from './demo/seed.js';
import { createHub } from './hub.js';
import { configureServer } from './http/http-server.js';
import { drainServer } from './http/graceful-shutdown.js';
import { summariseError } from './db/database-errors.js';
import { loadOrCreateLogKey } from './services/log-key.js';
import { checkLogIdentity } from './services/log-identity.js';
import { openSigningKeys } from './services/signing-keys.js';
import { createLogger } from './logger.js';
import { standingOf } from './protocol/in-force.js';
import { loadProtocols, prepareDemoPolicies } from './services/protocol-store.js';
import { loadSchedules } from './services/schedule-store.js';

// The composition root: config → database → protocols → hub → listen.

const config = loadConfig();
const logger = createLogger(config.logLevel);

// Never the error's message: a failed query's can quote personal data (db/database-errors.ts).
const onTrouble = (event: 'waiting' | 'connection-error', err: unknown): void => {
  const { type, code, trouble } = summariseError(err);
  if (event === 'waiting') logger.warn({ err: { type, code, trouble }, waitMs: config.database.startupWaitMs }, 'database not reachable yet: waiting');
  else logger.warn({ err: { type, code, trouble } }, 'database connection lost: the requests on it fail, the pool reconnects');
};
const database = await openDatabase(
  config.databaseUrl === undefined
    ? { kind: 'pglite', dataDir: path.join(config.dataDir, 'pglite') }
    : { kind: 'postgres', url: config.databaseUrl, poolSize: config.database.poolSize, bounds: { ...config.database, onTrouble }, migrationUrl: config.migrationDatabaseUrl },
);
await database.migrate();
if (config.demo) {
  const { keptKeys } = await seedDemoWorld(database.db, config.dataDir);
  logger.info({ keys: path.join(config.dataDir, 'demo') }, 'demo world loaded');
  if (keptKeys.length > 0) {
    logger.warn({ clients: keptKeys, keys: path.join(config.dataDir, 'demo') }, 'demo clients already registered with other keys keep them: the key files in this DATA_DIR do not sign for them');
  }
}
// The demo signs a copy of its protocols with demo party keys; a deployment
// reads the partners' signatures from POLICIES_DIR. An unreadable protocol stops the start.
const policiesDir = config.demo ? await prepareDemoPolicies(config.policiesDir, config.dataDir) : config.policiesDir;
const protocols = await loadProtocols(policiesDir);
for (const protocol of protocols) {
  const standing = standingOf(protocol, new Date());
  const about = { protocol: protocol.id, version: protocol.version, source: path.join(policiesDir, protocol.source), digest: protocol.digest };
  if (standing.inForce) logger.info(about, 'protocol in force');
  else logger.warn({ ...about, reason: standing.reason }, 'protocol NOT in force: every flow in it denies');
}
if (protocols.length === 0) logger.warn({ policiesDir }, 'no protocols: nothing crosses organisations');
// The national immunisation schedules (reviewed data): one the hub cannot read stops the start.
const schedules = await loadSchedules(config.schedulesDir);
for (const { schedule, source } of schedules) logger.info({ schedule: schedule.id, version: schedule.version, effective: schedule.effective, source }, 'immunisation schedule loaded');
if (schedules.length === 0) logger.warn({ schedulesDir: config.schedulesDir }, 'no immunisation schedule: no dose is judged overdue');
// The log's origin was fixed when its key was made; a different AUDIT_LOG_ORIGIN now cannot rename it.
const logKey = await loadOrCreateLogKey(config);
if (config.auditLogOrigin !== undefined && config.auditLogOrigin !== logKey.name) {
  logger.warn({ origin: logKey.name, configured: config.auditLogOrigin }, 'AUDIT_LOG_ORIGIN ignored: the log keeps the origin it was created with');
}
// Several instances over one database sign as one log, or not at all.
const identity = await checkLogIdentity(database.db, logKey);
if (!identity.ok) {
  logger.fatal({ keyFile: config.auditLogKeyFile, origin: logKey.name }, `refusing to start: ${identity.reason}`);
  await database.close();
  process.exit(3);
}
const hub = await createHub({
  database,
  baseUrl: config.publicBaseUrl,
  logger,
  bodyLimit: config.bodyLimit,
  sequenceIntervalMs: config.auditSequenceIntervalMs,
  denialBurst: config.denialBurst,
  logKey,
  signingKeys: await openSigningKeys(config.signingKeysDir, () => new Date()),
  checkpoints: config.checkpoints,
  rateLimits: config.rateLimits,
  followUps: config.followUps,
  schedules: schedules.map((s) => s.schedule),
  trustProxy: config.trustProxy,
  subscriptions: config.subscriptions,
  protocols,
  mllp: await mllpOptions(config.mllp),
  maxInFlight: config.maxInFlight,
  readyMaxSequencerLagMs: config.readyMaxSequencerLagMs,
});
const server = hub.app.listen(config.port, config.host, () => {
  logger.info({ url: config.publicBaseUrl, engine: database.engine, demo: config.demo }, 'hub listening');
});
configureServer(server, { ...config.http, requestTimeoutMs: 30_000 });

// Graceful shutdown under a deadline (README "Faults and shutdown"): stop accepting, answer what
// arrived, close keep-alive connections after their answer, sequence the audit log, close the pool.
let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const started = Date.now();
  const deadline = started + config.shutdownDeadlineMs;
  logger.info({ signal, deadlineMs: config.shutdownDeadlineMs }, 'stopping');
  setTimeout(() => {
    logger.error({ deadlineMs: config.shutdownDeadlineMs }, 'shutdown deadline passed: exiting now');
    process.exit(1);
  }, config.shutdownDeadlineMs).unref();
  // Keep a quarter of the time for the audit flush and the pool.
  const cut = await drainServer(server, hub.lifecycle, { lingerMs: Math.min(1_000, config.shutdownDeadlineMs / 8), cutAt: deadline - config.shutdownDeadlineMs / 4 });
  if (cut > 0) logger.warn({ connections: cut }, 'connections still busy at the deadline were cut');
  try {
    await hub.close(Math.max(0, deadline - Date.now() - 500));
  } catch (err) {
    logger.error({ err: summariseError(err) }, 'audit log not flushed at shutdown: the next instance to start sequences it');
  }
  await database.close().catch(() => undefined);
  logger.info({ ms: Date.now() - started }, 'stopped');
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

/** The MLLP listeners' options, with the TLS files read (an unreadable one stops the start). */
async function mllpOptions(mllp: Config['mllp']): Promise<MllpOptions | undefined> {
  if (mllp.port === undefined && mllp.tls === undefined) return undefined;
  const tls = mllp.tls === undefined
    ? undefined
    : { port: mllp.tls.port, cert: await readFile(mllp.tls.certFile), key: await readFile(mllp.tls.keyFile), ca: await readFile(mllp.tls.caFile) };
  return { host: mllp.host, port: mllp.port, tls, limits: mllp.limits };
}
