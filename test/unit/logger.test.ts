import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

// The hub's log is buffered (src/logger.ts): these run a process with the
// hub's logger and read what reaches its stdout, as a log collector would.

const loggerModule = fileURLToPath(new URL('../../src/logger.ts', import.meta.url));
const children: ChildProcess[] = [];

function runLogging(script: string): { child: ChildProcess; lines: () => Record<string, unknown>[]; exited: Promise<number | null> } {
  const source = `import { createLogger } from ${JSON.stringify(loggerModule)};\nconst logger = createLogger('info');\n${script}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let text = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => (text += chunk));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const lines = (): Record<string, unknown>[] =>
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, lines, exited };
}

async function until(check: () => boolean, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('the hub logger', () => {
  it('writes what it buffered when the process exits, however it exits', async () => {
    // Far less than the buffer: only the exit can have written these.
    const run = runLogging(`for (let i = 0; i < 3; i++) logger.info({ n: i }, 'before exit');\nlogger.fatal('refusing to start');\nprocess.exit(3);`);
    expect(await run.exited).toBe(3);
    const lines = run.lines();
    expect(lines.map((l) => l['msg'])).toEqual(['before exit', 'before exit', 'before exit', 'refusing to start']);
    expect(lines.map((l) => l['n'])).toEqual([0, 1, 2, undefined]);
    expect(lines.every((l) => l['service'] === 'early-years-hub')).toBe(true);
  });

  it('writes a quiet hub’s lines within about a second, while it runs', async () => {
    const run = runLogging(`logger.info('one line');\nsetTimeout(() => process.exit(0), 20_000);`);
    expect(await until(() => run.lines().length === 1, 5_000)).toBe(true);
    expect(run.child.exitCode).toBeNull();
    expect(run.lines()[0]?.['msg']).toBe('one line');
  });

  it('keeps every line of a busy hub, in order, and still redacts tokens', async () => {
    const run = runLogging(
      `for (let i = 0; i < 5000; i++) logger.info({ n: i, req: { headers: { authorization: 'Bearer secret-' + i } } }, 'request');\nsetTimeout(() => process.exit(0), 20_000);`,
    );
    // 5,000 lines are far past the buffer: most are written while the process runs, the rest within the flush interval.
    expect(await until(() => run.lines().length === 5000, 10_000)).toBe(true);
    expect(run.child.exitCode).toBeNull();
    const lines = run.lines();
    expect(lines.map((l) => l['n'])).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    const text = JSON.stringify(lines);
    expect(text).not.toContain('secret-');
    expect((lines[0]?.['req'] as { headers: Record<string, unknown> }).headers['authorization']).toBe('[Redacted]');
  });
});
