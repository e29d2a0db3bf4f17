import { spawn, type ChildProcess } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

// HAProxy (Debian's package) in the foreground as a child process, with the
// committed bench/soak/haproxy.cfg rewritten to loopback: the frontend bound
// to 127.0.0.1:<port>, hub1..hub3 pointed at the local instances' ports.

export const HAPROXY = '/usr/sbin/haproxy';

export interface Balancer {
  baseUrl: string;
  child: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

/** Throws with the install command when Debian's haproxy is not there. */
export async function requireHaproxy(): Promise<void> {
  await access(HAPROXY).catch(() => {
    throw new Error(`${HAPROXY} not found: install Debian's package first (apt-get install -y haproxy)`);
  });
}

export async function loopbackConfig(port: number, hubPorts: readonly number[]): Promise<string> {
  let config = await readFile(path.join(import.meta.dirname, 'haproxy.cfg'), 'utf8');
  config = config.replace(/^(\s*)bind \*:8080$/m, `$1bind 127.0.0.1:${port}`);
  hubPorts.forEach((hubPort, i) => {
    config = config.replace(new RegExp(`^(\\s*)server hub${i + 1} hub${i + 1}:8080$`, 'm'), `$1server hub${i + 1} 127.0.0.1:${hubPort}`);
  });
  if (config.includes('*:8080') || /hub\d:8080/.test(config)) throw new Error('haproxy.cfg no longer has the bind and server lines the soak rewrites');
  return config;
}

export async function startBalancer(dir: string, port: number, hubPorts: readonly number[]): Promise<Balancer> {
  const file = path.join(dir, 'haproxy.cfg');
  await writeFile(file, await loopbackConfig(port, hubPorts));
  // -db: foreground, no daemon; -W would fork a master; stderr carries the server up/down lines.
  const child = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    output.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // Killed with the soak if it exits without stop() (an error, a signal).
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      process.removeListener('exit', killOnExit);
      resolve();
    }),
  );
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    child,
    output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
