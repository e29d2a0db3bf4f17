import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

// PGlite is one process's database: a second process opening the same
// directory would corrupt it. A lock file names the owner, and a stale one
// (its process gone) is taken over. A process id alone is not a name: after a
// crash and a restart (a container's hub is often pid 1 or 7 every time) the
// old owner's pid belongs to someone else, and the lock would block for ever.
// So the lock holds the pid, that process's start time (Linux: field 22 of
// /proc/<pid>/stat, clock ticks since boot) and the boot id: a process with
// the pid but another start time, or a lock from before the last boot, is not
// the owner. Where /proc is missing, the pid alone decides, as before.
// See: https://man7.org/linux/man-pages/man5/proc_pid_stat.5.html

const lockContent = z.object({ pid: z.number().int().positive(), started: z.string().optional(), boot: z.string().optional() });
export type LockOwner = z.infer<typeof lockContent>;

/** The boot id of this machine (Linux), or undefined. */
async function bootId(): Promise<string | undefined> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => undefined))?.trim();
}

/** A process's start time (Linux), or undefined where it cannot be read (no /proc, or no such process). */
export async function processStartTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

/** What this process writes into a lock it takes. */
export async function ownerOf(pid: number): Promise<LockOwner> {
  const [started, boot] = await Promise.all([processStartTime(pid), bootId()]);
  return { pid, ...(started === undefined ? {} : { started }), ...(boot === undefined ? {} : { boot }) };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

/** Whether the process a lock names still runs: same pid, same start time, same boot. */
async function stillHeld(owner: LockOwner): Promise<boolean> {
  if (owner.pid === process.pid) return false;
  const boot = await bootId();
  if (owner.boot !== undefined && boot !== undefined && owner.boot !== boot) return false;
  if (!isAlive(owner.pid)) return false;
  const started = await processStartTime(owner.pid);
  return owner.started === undefined || started === undefined || owner.started === started;
}

/** A lock file written before it held JSON held the pid alone. */
function parseOwner(text: string): LockOwner | undefined {
  const pid = Number(text.trim());
  if (Number.isInteger(pid) && pid > 0) return { pid };
  try {
    const parsed = lockContent.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Locks `dir` for this process; resolves with the release. Refuses, naming the owner, if a running process holds it. */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, 'hub.lock');
  const me = JSON.stringify(await ownerOf(process.pid));
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await writeFile(file, me, { flag: 'wx' });
      return async () => {
        await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      const owner = parseOwner(await readFile(file, 'utf8').catch(() => ''));
      if (owner !== undefined && (await stillHeld(owner))) {
        throw new Error(`the embedded database in ${dir} is in use by process ${owner.pid} (a running hub?): stop it first, or use DATABASE_URL`, { cause: err });
      }
      await rm(file, { force: true });
    }
  }
  throw new Error(`could not lock ${dir}`);
}
