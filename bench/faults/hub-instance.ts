import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

// One real hub process (`node --import tsx src/main.ts`, one process, so that
// kill -9 hits the hub itself) on a loopback port, started as an operator would.

const root = fileURLToPath(new URL('../../', import.meta.url));

// Instances still running when the bench exits (an error, or a signal that
// exits it) are killed with it rather than left serving on their ports.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface HubInstance {
  name: string;
  baseUrl: string;
  child: ChildProcess;
  /** Everything it logged (pino JSON lines), for the refusal check. */
  output: string[];
  exited: Promise<number | null>;
  alive(): boolean;
  signal(sig: NodeJS.Signals): void;
}

export function startHub(name: string, port: number, env: Record<string, string>): HubInstance {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      // The token audience: the address the load sends to.
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      DEMO: 'true',
      LOG_LEVEL: 'warn',
      // The load comes from one address: the per-address limits would measure the limiter, not the faults.
      RATE_LIMIT_API_PER_ADDRESS: '1000000',
      RATE_LIMIT_API_PER_CLIENT: '1000000',
      RATE_LIMIT_TOKEN_PER_ADDRESS: '100000',
      RATE_LIMIT_TOKEN_PER_CLIENT: '100000',
      FOLLOWUP_JOB_INTERVAL_MINUTES: '0',
      CHECKPOINT_EVERY_ENTRIES: '50',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    output.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  running.add(child);
  const exited = once(child, 'exit').then(([code]) => {
    running.delete(child);
    return code as number | null;
  });
  return {
    name,
    baseUrl: `http://127.0.0.1:${port}`,
    child,
    output,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    signal: (sig) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    },
  };
}

/** Resolves once /readyz answers 200; rejects if the process exits first or the wait passes. */
export async function untilReady(hub: HubInstance, waitMs = 90_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (!hub.alive()) throw new Error(`${hub.name} exited before it was ready:\n${hub.output.slice(-5).join('\n')}`);
    const status = await fetch(`${hub.baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${hub.name} not ready within ${waitMs} ms`);
}

export async function stopHub(hub: HubInstance): Promise<void> {
  if (!hub.alive()) return;
  hub.signal('SIGTERM');
  const timer = setTimeout(() => {
    hub.signal('SIGKILL');
  }, 15_000);
  await hub.exited;
  clearTimeout(timer);
}
