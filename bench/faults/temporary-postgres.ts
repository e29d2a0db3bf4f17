import { execFile, execFileSync } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

// A PostgreSQL server of the bench's own: initdb into a temporary directory
// with the machine's binaries, started with pg_ctl on a free loopback port, so
// that stopping it for a fault disrupts nothing else on the machine. Stopped
// and deleted by stop(), and by a SIGINT, SIGTERM or SIGHUP to this process.
// PostgreSQL refuses to run as root: as root, its commands run as `postgres`.
// initdb skips fsync (the data is thrown away); the server itself runs with
// PostgreSQL's defaults, fsync on.

const run = promisify(execFile);

export interface TemporaryPostgres {
  /** The superuser's URL to the `postgres` database (trust authentication, loopback only). */
  url: string;
  port: number;
  /** Stops the server (fast: connections are terminated), waits downMs, starts it again; the outage in ms. */
  restart(downMs: number): Promise<number>;
  /** Stops the server and deletes its directory; safe to call twice. */
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl, or PG_BIN_DIR. */
async function binaries(): Promise<string> {
  const given = process.env['PG_BIN_DIR'];
  if (given !== undefined && given !== '') return given;
  const versions = (await readdir('/usr/lib/postgresql').catch(() => [] as string[])).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  const [newest] = versions;
  if (newest === undefined) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql/*/bin: install Debian\'s postgresql package, or set PG_BIN_DIR');
  return `/usr/lib/postgresql/${newest}/bin`;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  if (address === null || typeof address === 'string') throw new Error('no free loopback port');
  return address.port;
}

const asRoot = process.getuid?.() === 0;

/** The command line for one PostgreSQL binary, as `postgres` when this process is root. */
function command(bin: string, name: string, args: readonly string[]): [string, string[]] {
  const file = path.join(bin, name);
  return asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, [...args]];
}

export async function startTemporaryPostgres(): Promise<TemporaryPostgres> {
  const bin = await binaries();
  const dir = await mkdtemp(path.join(tmpdir(), 'hub-postgres-'));
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    await chown(dir, uid, gid);
  }
  const port = await freePort();
  // Loopback TCP only; the socket directory and lock files in the run's own directory.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c max_connections=200`;
  const pgCtl = async (...args: string[]): Promise<void> => {
    const [file, argv] = command(bin, 'pg_ctl', ['-D', data, ...args]);
    await run(file, argv);
  };
  const start = (): Promise<void> => pgCtl('-l', logFile, '-o', options, '-w', '-t', '60', 'start');
  const stopServer = (mode: 'fast' | 'immediate'): Promise<void> => pgCtl('-m', mode, '-w', '-t', '60', 'stop');

  let stopped = false;
  // On a signal there is no time for promises: stop it at once and delete the directory synchronously.
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stopped) {
      stopped = true;
      try {
        const [file, argv] = command(bin, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
        execFileSync(file, argv, { stdio: 'ignore' });
      } catch {
        // Not running (yet, or any more): only the directory is left.
      }
      rmSync(dir, { recursive: true, force: true });
    }
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  // `on`, not `once`: timeout(1) signals the process and then its group, and a
  // second SIGTERM with no listener left would kill this process mid-cleanup.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const s of signals) process.removeListener(s, onSignal);
    await stopServer('fast').catch(() => stopServer('immediate')).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const [file, argv] = command(bin, 'initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync', '--no-instructions']);
    await run(file, argv);
    await start();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    restart: async (downMs) => {
      const began = Date.now();
      try {
        await stopServer('fast');
        await new Promise((resolve) => setTimeout(resolve, downMs));
      } finally {
        await start();
      }
      return Date.now() - began;
    },
    stop,
  };
}
