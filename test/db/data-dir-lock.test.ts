import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockDataDir, ownerOf } from '../../src/db/data-dir-lock.js';
import { openDatabase } from '../../src/db/database.js';

// The PGlite lock file names its owner by pid, start time and boot id, so a
// stale lock whose pid now belongs to another process does not block start.

let dir: string;
let other: ChildProcess;
let otherPid: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hub-lock-'));
  // A live process that is not a hub: the "reused" pid.
  other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  otherPid = other.pid ?? 0;
});
afterAll(async () => {
  other.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

const lockFile = (): string => path.join(dir, 'hub.lock');

describe.skipIf(!existsSync('/proc/self/stat'))('the embedded database lock (Linux /proc)', () => {
  it('takes over a lock whose pid now belongs to a process started later (pid reuse)', async () => {
    const real = await ownerOf(otherPid);
    expect(real.started).toMatch(/^\d+$/);
    await writeFile(lockFile(), JSON.stringify({ ...real, started: String(Number(real.started) - 1) }));
    const release = await lockDataDir(dir);
    expect(JSON.parse(await readFile(lockFile(), 'utf8'))).toMatchObject({ pid: process.pid });
    await release();
    expect(existsSync(lockFile())).toBe(false);
  });

  it('takes over a lock written before the last boot', async () => {
    await writeFile(lockFile(), JSON.stringify({ ...(await ownerOf(otherPid)), boot: '00000000-0000-0000-0000-000000000000' }));
    await (await lockDataDir(dir))();
  });

  it('refuses while the process the lock names (pid and start time) runs, naming it', async () => {
    await writeFile(lockFile(), JSON.stringify(await ownerOf(otherPid)));
    await expect(lockDataDir(dir)).rejects.toThrow(`in use by process ${otherPid}`);
    await rm(lockFile());
  });

  it('opens PGlite over a stale lock of a reused pid', async () => {
    const dataDir = path.join(dir, 'pglite');
    await openDatabase({ kind: 'pglite', dataDir }).then((d) => d.close());
    const real = await ownerOf(otherPid);
    await writeFile(path.join(dataDir, 'hub.lock'), JSON.stringify({ ...real, started: '1' }));
    const database = await openDatabase({ kind: 'pglite', dataDir });
    await database.close();
  }, 60_000);
});
