import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { fromHubSchema, type ToHub } from './hub-messages.js';
import { withDeadline } from './time.js';

/** A hub listening on loopback in a child process of this benchmark. */
export interface HubProcess {
  baseUrl: string;
  /** The plain MLLP listener's port, when the hub was started with one. */
  mllpPort?: number | undefined;
  pid: number;
  stop(): Promise<void>;
}

const childFile = fileURLToPath(new URL('./hub-child.ts', import.meta.url));

function send(child: ChildProcess, message: ToHub): void {
  if (child.connected) child.send(message);
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export async function startHubProcess(databaseUrl: string, signal: AbortSignal, startMs = 120_000, options: { mllp?: boolean } = {}): Promise<HubProcess> {
  // fork reuses this process's execArgv, so the child runs under tsx as well.
  // BENCH_HUB_CPU_PROF=<dir>: the hub writes a V8 CPU profile there when it stops (node --cpu-prof).
  const profileDir = process.env['BENCH_HUB_CPU_PROF'];
  const execArgv = profileDir === undefined || profileDir === '' ? process.execArgv : [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const child = fork(childFile, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the hub process did not start');
  const exited = once(child, 'exit').then(() => undefined);

  const stop = async (): Promise<void> => {
    if (hasExited(child)) return;
    send(child, { type: 'stop' });
    try {
      await withDeadline(exited, 15_000, 'hub process stop');
    } catch {
      // It did not stop in time: end it by its pid.
      if (!hasExited(child)) process.kill(pid, 'SIGKILL');
      await exited;
    }
  };

  const listening = new Promise<{ port: number; mllpPort?: number | undefined }>((resolve, reject) => {
    child.on('message', (raw: unknown) => {
      const parsed = fromHubSchema.safeParse(raw);
      if (!parsed.success) return;
      const message = parsed.data;
      switch (message.type) {
        case 'listening':
          resolve({ port: message.port, mllpPort: message.mllpPort });
          break;
        case 'failed':
          reject(new Error(`the hub process failed to start: ${message.message}`));
          break;
        default: {
          const never: never = message;
          reject(new Error(`unexpected message ${JSON.stringify(never)}`));
        }
      }
    });
    child.once('exit', (code) => {
      reject(new Error(`the hub process exited (code ${String(code)}) before listening`));
    });
    signal.addEventListener('abort', () => {
      reject(new Error('aborted while the hub was starting'));
    }, { once: true });
  });

  send(child, { type: 'start', databaseUrl, ...(options.mllp === true ? { mllp: true } : {}) });
  try {
    const { port, mllpPort } = await withDeadline(listening, startMs, 'hub start');
    return { baseUrl: `http://127.0.0.1:${port}`, mllpPort, pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
