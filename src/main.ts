import path from 'node:path';
import { loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { seedDemoWorld } from './demo/seed.js';
import { createHub } from './hub.js';
import { createLogger } from './logger.js';

// The composition root: config → database → hub → listen.

const config = loadConfig();
const logger = createLogger(config.logLevel);

const database = await openDatabase(
  config.databaseUrl === undefined
    ? { kind: 'pglite', dataDir: path.join(config.dataDir, 'pglite') }
    : { kind: 'postgres', url: config.databaseUrl },
);
await database.migrate();
if (config.demo) {
  await seedDemoWorld(database.db, config.dataDir);
  logger.info({ keys: path.join(config.dataDir, 'demo') }, 'demo world loaded');
}
const hub = await createHub({
  database,
  baseUrl: config.publicBaseUrl,
  logger,
  bodyLimit: config.bodyLimit,
  sequenceIntervalMs: config.auditSequenceIntervalMs,
});
const server = hub.app.listen(config.port, config.host, () => {
  logger.info({ url: config.publicBaseUrl, engine: database.engine, demo: config.demo }, 'hub listening');
});
server.requestTimeout = 30_000;

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
