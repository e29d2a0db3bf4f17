import { readdirSync, readFileSync } from 'node:fs';

// Other processes' CPU share during a run (BENCH.md rule 6), from /proc:
// the machine's user+nice+system time minus that of the processes doing the
// benchmark's work (this process, the hub, the PostgreSQL processes serving
// the bench database), over the machine's whole capacity. irq and softirq
// time are left out of both sides: loopback traffic lands there and is ours.
// Linux only; elsewhere the share is reported as unknown.

export interface CpuSample {
  busy: number;
  capacity: number;
  perPid: Map<number, number>;
}

function readMachine(): { busy: number; capacity: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is inside user)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    return { busy: user + nice + system, capacity: user + nice + system + idle + iowait + irq + softirq + steal };
  } catch {
    return undefined;
  }
}

/** utime + stime of a whole process (all its threads), in clock ticks. */
function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system, all threads) a process has used so far, in ms; undefined off Linux.
 * /proc counts in USER_HZ ticks, which Linux fixes at 100 per second.
 */
export function processCpuMs(pid: number): number | undefined {
  const ticks = processTicks(pid);
  return ticks === undefined ? undefined : ticks * 10;
}

export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The machine's counters and every process's ticks. All processes are read,
 * not only ours, because which ones are ours is known for sure only at the
 * end of a run (a connection or an autovacuum worker may start during it).
 */
export function sampleCpu(): CpuSample | undefined {
  const machine = readMachine();
  if (machine === undefined) return undefined;
  const perPid = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const ticks = processTicks(pid);
    if (ticks !== undefined) perPid.set(pid, ticks);
  }
  return { ...machine, perPid };
}

/** Fraction (0..1) of the machine's capacity used by processes not in ours between two samples. */
export function othersShare(before: CpuSample | undefined, after: CpuSample | undefined, ours: Iterable<number>): number | undefined {
  if (before === undefined || after === undefined) return undefined;
  const capacity = after.capacity - before.capacity;
  if (capacity <= 0) return undefined;
  let oursTicks = 0;
  for (const pid of new Set(ours)) {
    const end = after.perPid.get(pid);
    // A process of ours that started during the run spent all its time inside it.
    if (end !== undefined) oursTicks += end - (before.perPid.get(pid) ?? 0);
  }
  return Math.max(0, after.busy - before.busy - oursTicks) / capacity;
}

/** CPU time of the given processes between two samples, in cores (1 = one core busy the whole time). */
export function coresUsed(before: CpuSample | undefined, after: CpuSample | undefined, pids: Iterable<number>, cpus: number): number | undefined {
  if (before === undefined || after === undefined || cpus <= 0) return undefined;
  const perCore = (after.capacity - before.capacity) / cpus;
  if (perCore <= 0) return undefined;
  let ticks = 0;
  for (const pid of new Set(pids)) {
    const end = after.perPid.get(pid);
    if (end !== undefined) ticks += end - (before.perPid.get(pid) ?? 0);
  }
  return ticks / perCore;
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;

/** CPU milliseconds one process spent between two samples; undefined off Linux or if it was not seen. */
export function processCpuMsBetween(before: CpuSample | undefined, after: CpuSample | undefined, pid: number): number | undefined {
  const start = before?.perPid.get(pid);
  const end = after?.perPid.get(pid);
  if (start === undefined || end === undefined) return undefined;
  return ((end - start) * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU milliseconds a set of processes spent between two samples; undefined
 * off Linux or when none of them was seen at the end (an empty set spent 0).
 * A process seen only at the end started during the window and spent all
 * its time inside it.
 */
export function cpuMsBetween(before: CpuSample | undefined, after: CpuSample | undefined, pids: Iterable<number>): number | undefined {
  if (before === undefined || after === undefined) return undefined;
  let ticks = 0;
  // No processes at all spent nothing (a server whose database no connection was open to).
  let seen = [...pids].length === 0;
  for (const pid of new Set(pids)) {
    const end = after.perPid.get(pid);
    if (end === undefined) continue;
    seen = true;
    ticks += end - (before.perPid.get(pid) ?? 0);
  }
  return seen ? (ticks * 1000) / TICKS_PER_SECOND : undefined;
}
