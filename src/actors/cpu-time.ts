import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';

/**
 * CPU time of the calling thread, from the OS, read inside that thread.
 * /proc/thread-self/schedstat gives nanoseconds on the CPU; /proc/thread-self/stat
 * (utime + stime in clock ticks) is the coarse fallback.
 */
export type CpuClockSource = 'schedstat' | 'stat' | 'unavailable';

let source: CpuClockSource | undefined;

function detect(): CpuClockSource {
  try {
    readFileSync('/proc/thread-self/schedstat', 'utf8');
    return 'schedstat';
  } catch {
    try {
      readFileSync('/proc/thread-self/stat', 'utf8');
      return 'stat';
    } catch {
      return 'unavailable';
    }
  }
}

export function cpuClockSource(): CpuClockSource {
  return (source ??= detect());
}

const USER_HZ_NS = 10_000_000; // 100 Hz clock ticks on Linux

/** This thread's CPU time in ns, or NaN where the OS does not tell. */
export function threadCpuNs(): number {
  switch (cpuClockSource()) {
    case 'schedstat': {
      const text = readFileSync('/proc/thread-self/schedstat', 'utf8');
      return Number(text.slice(0, text.indexOf(' ')));
    }
    case 'stat': {
      const text = readFileSync('/proc/thread-self/stat', 'utf8');
      // Fields after the parenthesised comm; utime and stime are fields 14 and 15.
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      return (Number(rest[11]) + Number(rest[12])) * USER_HZ_NS;
    }
    default:
      return Number.NaN;
  }
}

/**
 * Set this thread's timer slack (Linux default 50 us), so a timed Atomics.wait
 * standing in for an hrtimer is not rounded up by the kernel. Returns the slack
 * in force afterwards, or undefined where it cannot be read.
 */
export function setThreadTimerSlackNs(ns: number): number | undefined {
  try {
    const tid = readlinkSync('/proc/thread-self').split('/').pop();
    const file = `/proc/${tid}/timerslack_ns`;
    try {
      writeFileSync(file, String(ns));
    } catch {
      // not permitted here: keep the default and report it
    }
    return Number(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The calling thread's kernel thread id (its /proc/<pid>/task/<tid>), or 0 where /proc does not tell. */
export function threadId(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || 0;
  } catch {
    return 0;
  }
}

/**
 * CPU time in ns of another thread of this process, read from outside it
 * (/proc/self/task/<tid>/schedstat), for live views that must not ask the
 * thread itself. NaN when the thread has gone or the OS does not tell.
 */
export function threadCpuNsOf(tid: number): number {
  if (tid <= 0) return Number.NaN;
  try {
    const text = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8');
    return Number(text.slice(0, text.indexOf(' ')));
  } catch {
    return Number.NaN;
  }
}
