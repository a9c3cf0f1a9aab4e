import { closeSync, openSync, writeSync } from 'node:fs';
import { GUEST_EXIT } from '../guest/interpreter.ts';
import { LINE_VECTOR } from '../host/kvm/vcpu-state.ts';
import { RUN_STATE_NAMES } from '../host/thread-state.ts';
import type { TraceEvent } from './collector.ts';
import { EV } from './tracer.ts';
import type { ActorSlots } from '../host/actor-slots.ts';

/**
 * Chrome Trace Event JSON (the format Perfetto UI and chrome://tracing open):
 * a process per kind of track (vCPU threads, VMM I/O threads, the host, the
 * modelled pCPUs), a thread per actor; complete slices ("X") for vCPU states
 * and pCPU occupancy, instants ("i") for exits, injections, kicks, timers and
 * device interrupts, counters ("C") for each vCPU's halt_poll_ns. Every event
 * has a `cat` (some readers require one).
 *
 * Slices on a track never overlap, however a reader computes an end:
 * Perfetto rounds ts and dur to whole ns each (llround(x * 1000)), speedscope
 * rebases ts on the track's first event and adds dur in floats, and a slice
 * that ends even 1e-12 µs after the next begins is mis-nested. So timestamps
 * are whole ns (written in µs), and each slice ends SLICE_GUARD_NS before the
 * next one on its track begins: a gap no reader's rounding can close.
 */

/** The gap left between consecutive slices of a track, ns: invisible at any zoom a trace of µs-long states is read at. */
export const SLICE_GUARD_NS = 1;

export const PID = { VCPUS: 1, IOTHREADS: 2, HOST: 3, PCPUS: 4 } as const;

type ChromeEvent = Record<string, unknown>;

const EXIT_NAME: Record<number, string> = Object.fromEntries(Object.entries(GUEST_EXIT).map(([k, v]) => [v, k]));

export interface ChromeTraceInput {
  events: Iterable<TraceEvent>;
  slots: ActorSlots;
  vcpus: number;
  pcpus: number;
  iothreads: number;
  /** Run start and end on the shared clock, ns: timestamps are µs from the start. */
  t0: number;
  t1: number;
  metadata: Record<string, unknown>;
}

/** One event in a line of text (the stress watchdog's report). */
export function describeEvent(e: TraceEvent): string {
  switch (e.kind) {
    case EV.STATE:
      return `state ${RUN_STATE_NAMES[e.a] ?? e.a}`;
    case EV.EXIT:
      return `exit ${EXIT_NAME[e.a] ?? e.a}`;
    case EV.INJECT:
      return `inject line ${e.a} (pending for ${Math.round(e.ts - e.b)} ns)`;
    case EV.HALT_POLL_NS:
      return `halt_poll_ns = ${e.a}`;
    case EV.KICK:
      return `kick vcpu${e.a}${e.b === 1 ? ' (woke it)' : ''}`;
    case EV.TIMER:
      return `timer fires for vcpu${e.a} (${Math.round(e.b)} ns late)`;
    case EV.PCPU:
      return e.b >= 0 ? `pCPU${e.a} runs vcpu${e.b}` : `pCPU${e.a} idle`;
    case EV.IRQ_RAISE:
      return `raise line ${e.b} on vcpu${e.a}`;
    case EV.EOI:
      return `EOI from vcpu${e.a}`;
    case EV.PREEMPT:
      return `preempt vcpu${e.a}`;
    default:
      return `event ${e.kind}`;
  }
}

/** The trace's events, generated one by one (a trace can hold millions). */
export function* chromeTraceEvents(input: ChromeTraceInput): Generator<ChromeEvent> {
  const { slots, vcpus, pcpus, iothreads, t1 } = input;
  // Slices are built from consecutive "state" events of each track; sort by time first.
  const events = [...input.events].sort((x, y) => x.ts - y.ts);
  // Threads record a little before the run's start (while coming up): start the clock at the first event.
  const t0 = Math.min(input.t0, events[0]?.ts ?? input.t0);
  const us = (ns: number) => Math.round(ns - t0) / 1000;
  const out: ChromeEvent[] = [];
  const meta = (pid: number, tid: number | undefined, name: string, value: string) =>
    out.push({ ph: 'M', cat: '__metadata', pid, ...(tid !== undefined && { tid }), name, args: { name: value } });
  meta(PID.VCPUS, undefined, 'process_name', 'vCPU threads');
  meta(PID.IOTHREADS, undefined, 'process_name', 'VMM I/O threads');
  meta(PID.HOST, undefined, 'process_name', 'host kernel');
  meta(PID.PCPUS, undefined, 'process_name', 'pCPUs (host scheduler)');
  for (let i = 0; i < vcpus; i++) meta(PID.VCPUS, i, 'thread_name', `vcpu${i}`);
  for (let i = 0; i < iothreads; i++) meta(PID.IOTHREADS, i, 'thread_name', `iothread${i}`);
  meta(PID.HOST, 0, 'thread_name', 'hrtimer + tick');
  for (let i = 0; i < pcpus; i++) meta(PID.PCPUS, i, 'thread_name', `pCPU${i}`);

  const slotOwner = (slot: number): { pid: number; tid: number } => {
    if (slot === slots.host) return { pid: PID.HOST, tid: 0 };
    if (slot >= slots.vcpu(0) && slot < slots.vcpu(vcpus)) return { pid: PID.VCPUS, tid: slot - slots.vcpu(0) };
    return { pid: PID.IOTHREADS, tid: slot - slots.iothread(0) };
  };

  const vcpuState: ({ name: string; since: number } | null)[] = Array.from({ length: vcpus }, () => null);
  const pcpuTask: ({ task: number; since: number } | null)[] = Array.from({ length: pcpus }, () => null);
  const slice = (pid: number, tid: number, name: string, from: number, to: number, cat: string) => {
    const begin = Math.round(from - t0);
    const end = Math.round(to - t0) - SLICE_GUARD_NS;
    // A state held for a ns or two has no time to show, and a zero-length slice at the next one's start confuses nesting.
    if (end > begin) out.push({ ph: 'X', pid, tid, name, cat, ts: begin / 1000, dur: (end - begin) / 1000 });
  };

  for (const e of events) {
    if (out.length >= 4096) yield* out.splice(0);
    const who = slotOwner(e.slot);
    switch (e.kind) {
      case EV.STATE: {
        const id = who.tid;
        const prev = vcpuState[id];
        if (prev) slice(PID.VCPUS, id, prev.name, prev.since, e.ts, 'state');
        vcpuState[id] = { name: RUN_STATE_NAMES[e.a] ?? `state${e.a}`, since: e.ts };
        break;
      }
      case EV.PCPU: {
        const prev = pcpuTask[e.a];
        if (prev) slice(PID.PCPUS, e.a, `vcpu${prev.task}`, prev.since, e.ts, 'pcpu');
        pcpuTask[e.a] = e.b >= 0 ? { task: e.b, since: e.ts } : null;
        break;
      }
      case EV.EXIT:
        out.push({ ph: 'i', s: 't', ...who, ts: us(e.ts), name: `exit ${EXIT_NAME[e.a] ?? e.a}`, cat: 'exit' });
        break;
      case EV.INJECT:
        out.push({
          ph: 'i',
          s: 't',
          ...who,
          ts: us(e.ts),
          name: `inject vector 0x${(LINE_VECTOR[e.a] ?? 0).toString(16)}`,
          cat: 'interrupt',
          args: { line: e.a, wake_latency_ns: Math.round(e.ts - e.b) },
        });
        break;
      case EV.HALT_POLL_NS:
        out.push({ ph: 'C', cat: 'halt_poll_ns', pid: PID.VCPUS, ts: us(e.ts), name: `vcpu${who.tid} halt_poll_ns`, args: { halt_poll_ns: e.a } });
        break;
      case EV.KICK:
        out.push({ ph: 'i', s: 't', ...who, ts: us(e.ts), name: `kick vcpu${e.a}`, cat: 'kick', args: { woke_sleeper: e.b === 1 } });
        break;
      case EV.TIMER:
        out.push({ ph: 'i', s: 't', ...who, ts: us(e.ts), name: `timer fires for vcpu${e.a}`, cat: 'timer', args: { lateness_ns: Math.round(e.b) } });
        break;
      case EV.IRQ_RAISE:
        out.push({ ph: 'i', s: 't', ...who, ts: us(e.ts), name: `raise line ${e.b} on vcpu${e.a}`, cat: 'interrupt' });
        break;
      case EV.EOI:
        out.push({ ph: 'i', s: 't', ...who, ts: us(e.ts), name: `EOI from vcpu${e.a}`, cat: 'interrupt' });
        break;
      case EV.PREEMPT:
        out.push({ ph: 'i', s: 't', ...who, ts: us(e.ts), name: `preempt vcpu${e.a}`, cat: 'sched' });
        break;
    }
  }
  // Close what is still open at the end of the run.
  vcpuState.forEach((s, id) => s && slice(PID.VCPUS, id, s.name, s.since, Math.max(s.since, t1), 'state'));
  pcpuTask.forEach((p, cpu) => p && slice(PID.PCPUS, cpu, `vcpu${p.task}`, p.since, Math.max(p.since, t1), 'pcpu'));
  yield* out;
}

/** Write the trace as one JSON file, streamed. Returns the number of trace events written. */
export function writeChromeTrace(path: string, input: ChromeTraceInput): number {
  const fd = openSync(path, 'w');
  let n = 0;
  try {
    writeSync(fd, '{"displayTimeUnit":"ns","traceEvents":[\n');
    let batch: string[] = [];
    for (const e of chromeTraceEvents(input)) {
      batch.push(JSON.stringify(e));
      if (batch.length === 4096) {
        writeSync(fd, `${n ? ',\n' : ''}${batch.join(',\n')}`);
        n += batch.length;
        batch = [];
      }
    }
    if (batch.length) writeSync(fd, `${n ? ',\n' : ''}${batch.join(',\n')}`);
    n += batch.length;
    writeSync(fd, `\n],"metadata":${JSON.stringify(input.metadata)}}\n`);
  } finally {
    closeSync(fd);
  }
  return n;
}
