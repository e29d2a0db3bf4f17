import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, type Config } from './config.js';
import type { MllpOptions } from './mllp/mllp-server.js';
import { openDatabase } from './db/database.js';
import { seedDemoWorld } from './demo/seed.js';
import { createHub } from './hub.js';
import { configureServer } from './http/http-server.js';
import { loadOrCreateLogKey } from './services/log-key.js';
import { openSigningKeys } from './services/signing-keys.js';
import { createLogger } from './logger.js';
import { standingOf } from './protocol/in-force.js';
import { loadProtocols, prepareDemoPolicies } from './services/protocol-store.js';
import { loadSchedules } from './services/schedule-store.js';

// The composition root: config → database → protocols → hub → listen.

const config = loadConfig();
const logger = createLogger(config.logLevel);

const database = await openDatabase(
  config.databaseUrl === undefined
    ? { kind: 'pglite', dataDir: path.join(config.dataDir, 'pglite') }
    : { kind: 'postgres', url: config.databaseUrl, poolSize: config.database.poolSize, bounds: config.database, migrationUrl: config.migrationDatabaseUrl },
);
await database.migrate();
if (config.demo) {
  await seedDemoWorld(database.db, config.dataDir);
  logger.info({ keys: path.join(config.dataDir, 'demo') }, 'demo world loaded');
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
});
const server = hub.app.listen(config.port, config.host, () => {
  logger.info({ url: config.publicBaseUrl, engine: database.engine, demo: config.demo }, 'hub listening');
});
configureServer(server, { ...config.http, requestTimeoutMs: 30_000 });

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  await hub.close();
  await database.close();
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
