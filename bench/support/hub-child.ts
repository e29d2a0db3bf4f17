import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { openDatabase, type Database } from '../../src/db/database.js';
import { createHub, type Hub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { loadProtocols, prepareDemoPolicies } from '../../src/services/protocol-store.js';
import { openSigningKeys } from '../../src/services/signing-keys.js';
import { toHubSchema, type FromHub } from './hub-messages.js';

// The hub under test, in a process of its own as in production, so that the
// load generator does not share its event loop. Started by hub-process.ts
// with stdout on the null device: the request log is written at info level
// exactly as main.ts writes it, and its cost is part of what is measured.

interface Running {
  server: http.Server;
  hub: Hub;
  database: Database;
}

let running: Running | undefined;
let stopping = false;

function tell(message: FromHub): void {
  process.send?.(message);
}

async function start(databaseUrl: string, mllp: boolean): Promise<void> {
  const database = await openDatabase({ kind: 'postgres', url: databaseUrl });
  const server = http.createServer();
  server.requestTimeout = 30_000;
  // Loopback only: the benchmark never puts traffic on a real interface.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // The repo's protocol, signed with throwaway party keys as the demo does at first start.
  const dataDir = await mkdtemp(path.join(tmpdir(), 'eyhub-bench-'));
  const protocols = await loadProtocols(await prepareDemoPolicies(path.resolve(import.meta.dirname, '..', '..', 'policies'), dataDir));
  await rm(dataDir, { recursive: true, force: true });
  // Every hub process on one database shares its signing keys, as instances sharing a key directory do.
  const keysDir = path.join(tmpdir(), 'eyhub-bench-keys', new URL(databaseUrl).pathname.slice(1));
  const signingKeys = await openSigningKeys(keysDir, () => new Date());
  // The benchmark drives thousands of requests per second from one client and address: limits far above that.
  const unbounded = { perClient: 1e9, perAddress: 1e9, windowSeconds: 60 };
  // MLLP (bench/mllp.ts): plain, on loopback, for the sender registered on 127.0.0.1.
  const mllpOptions = mllp ? { host: '127.0.0.1', port: 0, limits: { maxMessageBytes: 1024 * 1024, idleTimeoutMs: 120_000, maxConnections: 64 } } : undefined;
  const hub = await createHub({ database, baseUrl: `http://127.0.0.1:${port}`, logger: createLogger('info'), protocols, signingKeys, rateLimits: { token: unbounded, api: unbounded }, mllp: mllpOptions });
  server.on('request', hub.app);
  running = { server, hub, database };
  const mllpPort = hub.mllp?.plain?.port;
  tell({ type: 'listening', port, ...(mllpPort === undefined ? {} : { mllpPort }) });
}

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Never outlive a stop request by more than a few seconds.
  setTimeout(() => process.exit(code === 0 ? 1 : code), 10_000).unref();
  if (running !== undefined) {
    const { server, hub, database } = running;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    await hub.close();
    await database.close();
  }
  process.exit(code);
}

process.on('message', (raw: unknown) => {
  const parsed = toHubSchema.safeParse(raw);
  if (!parsed.success) return;
  const command = parsed.data;
  switch (command.type) {
    case 'start':
      start(command.databaseUrl, command.mllp === true).catch((err: unknown) => {
        tell({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
        void stop(1);
      });
      break;
    case 'stop':
      void stop(0);
      break;
    default: {
      const never: never = command;
      throw new Error(`unknown command ${JSON.stringify(never)}`);
    }
  }
});

// The benchmark is gone (crashed or killed): stop rather than linger as an orphan.
process.on('disconnect', () => void stop(1));
// Ctrl-C reaches the whole process group: close cleanly, so the audit queue is flushed.
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
