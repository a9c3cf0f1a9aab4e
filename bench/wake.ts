import { Worker } from 'node:worker_threads';
import { availableParallelism, cpus } from 'node:os';
import { newHistogram, summarize, type LatencySummary } from '../src/actors/histogram.ts';
import { createVm } from '../src/host/vm.ts';
import { parseScenario } from '../src/scenarios/schema.ts';
import { benchKvmExits, type KvmExitBench } from './kvm-exits.ts';
import { measureModelExits } from './model-exits.ts';

/**
 * `npm run bench`: haltlab's own plumbing against floors measured in the same process and run
 * (issue 14's targets), each printed as a ratio beside its target:
 *  - wake latency from "interrupt pending" to "vCPU runs guest code", for a blocked vCPU
 *    (halt_poll_ns=0) and a polling one, against a bare Atomics.wait/notify ping-pong and a bare
 *    spin ping-pong between two threads (same gaps, same sample counts);
 *  - the same two with trace recording on, against themselves untraced;
 *  - a sleeping vCPU's own TSC-deadline timer (timer-latency, no polling): lateness against a bare
 *    thread's timed Atomics.wait to deadlines re-armed by the same delta;
 *  - a dsync-io request (synthetic device, 1 vCPU, no polling) on the VM path against the same loop
 *    on bare metal, the difference over the raw Atomics wake floor;
 *  - the model's exit rate on one vCPU (an MSR-write loop), and real KVM's against a C loop.
 */

const GAP_NS = 200_000;
const JITTER = 0.5;
/** The timer rows' re-arm delta: as the wake rows' gap, short enough that a round stays short. */
const TIMER_DELTA_NS = 200_000;
/** The synthetic device of the I/O row (the 20 µs device). */
const IO_DEVICE_NS = 20_000;
const MODEL_EXIT_ITERATIONS = 1_000_000;

export interface Measured {
  p50_ns: number;
  p99_ns: number;
  count: number;
}

/** One target: a measured ratio, the bound it must meet, and whether it did. */
export interface Target {
  name: string;
  ratio: number;
  target: number;
  /** `max`: ratio <= target; `min`: ratio >= target. */
  bound: 'max' | 'min';
  met: boolean;
  /** What the ratio divides by what. */
  of: string;
}

const pick = (s: LatencySummary): Measured => ({ p50_ns: s.p50, p99_ns: s.p99, count: s.count });

function histogramOf(values: Float64Array): Measured {
  const h = newHistogram();
  for (const v of values) h.recordValue(Math.max(0, Math.round(v)));
  return pick(summarize(h));
}

const joined = (w: Worker) => new Promise((resolve, reject) => w.on('exit', resolve).on('error', reject));

async function raw(mode: 'atomics' | 'spin', samples: number): Promise<Measured> {
  const sab = new SharedArrayBuffer(16 + 8 * (samples + 2));
  const url = new URL('./raw-pingpong.mjs', import.meta.url);
  const common = { sab, mode, samples, gapNs: GAP_NS, jitter: JITTER, seed: 7 };
  const workers = ['receiver', 'sender'].map((role) => new Worker(url, { workerData: { ...common, role } }));
  await Promise.all(workers.map(joined));
  return histogramOf(new Float64Array(sab, 16, samples + 2).subarray(2));
}

async function rawTimedWait(samples: number): Promise<Measured & { timer_slack_ns: number | null }> {
  const sab = new SharedArrayBuffer(8 * (samples + 1));
  await joined(new Worker(new URL('./raw-timed-wait.mjs', import.meta.url), { workerData: { sab, samples, deltaNs: TIMER_DELTA_NS } }));
  const f = new Float64Array(sab);
  return { ...histogramOf(f.subarray(1)), timer_slack_ns: f[0] >= 0 ? f[0] : null };
}

async function haltlab(haltPollNs: number, samples: number, trace = false): Promise<Measured> {
  const scenario = parseScenario({
    name: `bench-${haltPollNs ? 'polling' : 'blocked'}`,
    duration_s: (samples * GAP_NS * 1.15) / 1e9 + 0.2,
    host: { pcpus: 1, kvm: { halt_poll_ns: haltPollNs } },
    vm: { vcpus: 1 },
    workload: { kind: 'irq-wake', gap_ns: GAP_NS, jitter: JITTER, seed: 7 },
  });
  const r = await createVm(scenario, { trace }).run();
  if (r.status !== 'completed') throw new Error(`bench run ${r.status}: ${r.failure?.message}`);
  return pick(r.vcpus[0].wake_latency_ns);
}

/** timer-latency on one vCPU with no polling: every halt sleeps and its own deadline wakes it. */
async function sleepingTimer(samples: number): Promise<Measured> {
  const scenario = parseScenario({
    name: 'bench-sleeping-timer',
    duration_s: (samples * TIMER_DELTA_NS * 1.3) / 1e9 + 0.2,
    host: { pcpus: 1, kvm: { halt_poll_ns: 0 } },
    vm: { vcpus: 1 },
    workload: { kind: 'timer-latency', delta_ns: TIMER_DELTA_NS },
  });
  const r = await createVm(scenario).run();
  if (r.status !== 'completed') throw new Error(`bench run ${r.status}: ${r.failure?.message}`);
  return pick(r.vcpus[0].timer_lateness_ns);
}

/** dsync-io on the synthetic device, one vCPU, policy no-poll (or policy bare-metal): per-request latency. */
async function ioRequest(bareMetal: boolean, seconds: number): Promise<Measured> {
  const scenario = parseScenario({
    name: `bench-io-${bareMetal ? 'bare' : 'vm'}`,
    duration_s: seconds,
    host: { kvm: { halt_poll_ns: 0 } },
    vm: { vcpus: 1 },
    workload: { kind: 'dsync-io', backend: 'synthetic', synthetic_latency_ns: IO_DEVICE_NS, bare_metal: bareMetal },
  });
  const r = await createVm(scenario).run();
  if (r.status !== 'completed') throw new Error(`bench run ${r.status}: ${r.failure?.message}`);
  return pick(r.block!.io_latency_ns);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface BenchFlags {
  json?: boolean;
  samples?: number;
  rounds?: number;
  /** Measure the traced rows (default true; --no-trace skips them). */
  trace?: boolean;
  /** Seconds per dsync-io run (default 1.5). */
  io_seconds?: number;
  /** MSR writes per model exit-rate measurement. */
  exit_iterations?: number;
  /** Skip real KVM's exit-rate row (tests). */
  kvm?: boolean;
}

const ROWS = ['raw_atomics', 'blocked', 'raw_spin', 'polling', 'blocked_traced', 'polling_traced', 'raw_timed_wait', 'sleeping_timer', 'io_vm', 'io_bare'] as const;
type Row = (typeof ROWS)[number];

export async function measureBench(flags: BenchFlags, log: (s: string) => void = () => {}) {
  const samples = flags.samples ?? 5000;
  const rounds = flags.rounds ?? 5;
  const trace = flags.trace ?? true;
  const ioSeconds = flags.io_seconds ?? 1.5;
  const runs = Object.fromEntries(ROWS.map((k) => [k, [] as Measured[]])) as Record<Row, Measured[]>;
  const modelExits: number[] = [];
  let timerSlack: number | null = null;
  for (let round = 1; round <= rounds; round++) {
    log(`round ${round}/${rounds}: raw atomics… `);
    runs.raw_atomics.push(await raw('atomics', samples));
    log('haltlab blocked… ');
    runs.blocked.push(await haltlab(0, samples));
    log('raw spin… ');
    runs.raw_spin.push(await raw('spin', samples));
    log('haltlab polling…\n');
    // A ceiling far above the gaps: after a few halts the window covers every gap and each wake is a successful poll.
    runs.polling.push(await haltlab(1_000_000_000, samples));
    if (trace) {
      log('          the same with trace recording… ');
      runs.blocked_traced.push(await haltlab(0, samples, true));
      runs.polling_traced.push(await haltlab(1_000_000_000, samples, true));
      log('\n');
    }
    log('          raw timed wait… ');
    const tw = await rawTimedWait(samples);
    timerSlack = tw.timer_slack_ns;
    runs.raw_timed_wait.push(tw);
    log('haltlab sleeping timer… ');
    runs.sleeping_timer.push(await sleepingTimer(samples));
    log('dsync-io VM… ');
    runs.io_vm.push(await ioRequest(false, ioSeconds));
    log('bare metal… ');
    runs.io_bare.push(await ioRequest(true, ioSeconds));
    log('model exits…\n');
    modelExits.push(measureModelExits(flags.exit_iterations ?? MODEL_EXIT_ITERATIONS).exits_per_s);
  }
  // Real KVM's exit round trip through the kvm backend's vCPU loop, against a C loop (when /dev/kvm is usable).
  const kvmExits: KvmExitBench =
    flags.kvm === false ? { skipped: 'not asked for', haltlab_exits_per_s: [], c_exits_per_s: [], ratio: null } : await benchKvmExits(rounds, 1, log);
  const med = (k: Row): Measured => ({
    p50_ns: median(runs[k].map((m) => m.p50_ns)),
    p99_ns: median(runs[k].map((m) => m.p99_ns)),
    count: runs[k].reduce((a, m) => a + m.count, 0),
  });
  const m = Object.fromEntries(ROWS.map((k) => [k, runs[k].length ? med(k) : null])) as Record<Row, Measured | null>;
  const blocked = m.blocked!;
  const polling = m.polling!;
  const rawAtomics = m.raw_atomics!;
  const rawSpin = m.raw_spin!;
  const io = { vm_p50_ns: m.io_vm!.p50_ns, bare_p50_ns: m.io_bare!.p50_ns, vm_p99_ns: m.io_vm!.p99_ns, bare_p99_ns: m.io_bare!.p99_ns, count: m.io_vm!.count, bare_count: m.io_bare!.count };
  const exitsPerS = median(modelExits);
  const tracing = trace
    ? {
        blocked: m.blocked_traced!,
        polling: m.polling_traced!,
        blocked_p50_traced_vs_untraced: m.blocked_traced!.p50_ns / blocked.p50_ns,
        polling_p50_traced_vs_untraced: m.polling_traced!.p50_ns / polling.p50_ns,
      }
    : undefined;
  const ratios = {
    blocked_p50_vs_raw_atomics: blocked.p50_ns / rawAtomics.p50_ns,
    blocked_p99_vs_raw_atomics: blocked.p99_ns / rawAtomics.p99_ns,
    polling_p50_vs_raw_spin: polling.p50_ns / rawSpin.p50_ns,
    polling_p99_vs_raw_spin: polling.p99_ns / rawSpin.p99_ns,
    sleeping_timer_p50_vs_raw_timed_wait: m.sleeping_timer!.p50_ns / m.raw_timed_wait!.p50_ns,
    sleeping_timer_p99_vs_raw_timed_wait: m.sleeping_timer!.p99_ns / m.raw_timed_wait!.p99_ns,
    io_request_overhead_vs_raw_atomics: (io.vm_p50_ns - io.bare_p50_ns) / rawAtomics.p50_ns,
  };
  const t = (name: string, ratio: number, target: number, of: string, bound: 'max' | 'min' = 'max'): Target => ({
    name,
    ratio,
    target,
    bound,
    met: bound === 'max' ? ratio <= target : ratio >= target,
    of,
  });
  const targets: Target[] = [
    t('polling wake p50', ratios.polling_p50_vs_raw_spin, 1.5, 'haltlab polling / raw spin'),
    t('polling wake p99', ratios.polling_p99_vs_raw_spin, 3, 'haltlab polling / raw spin'),
    t('blocked wake p50', ratios.blocked_p50_vs_raw_atomics, 1.2, 'haltlab blocked / raw Atomics'),
    t('blocked wake p99', ratios.blocked_p99_vs_raw_atomics, 1.5, 'haltlab blocked / raw Atomics'),
    t('sleeping timer p50', ratios.sleeping_timer_p50_vs_raw_timed_wait, 1.3, 'haltlab timer lateness / raw timed wait lateness'),
    ...(tracing
      ? [
          t('tracing, blocked p50', tracing.blocked_p50_traced_vs_untraced, 1.05, 'traced / untraced'),
          t('tracing, polling p50', tracing.polling_p50_traced_vs_untraced, 1.05, 'traced / untraced'),
        ]
      : []),
    t('I/O request overhead p50', ratios.io_request_overhead_vs_raw_atomics, 4, '(VM - bare metal) / raw Atomics wake'),
    t('model exits/s, one vCPU (millions)', exitsPerS / 1e6, 1, 'MSR_WRITE exits per second / 1e6', 'min'),
    ...(kvmExits.ratio !== null ? [t('kvm backend exit rate', kvmExits.ratio, 0.95, 'haltlab / C loop, KVM_EXIT_IO round trips', 'min')] : []),
  ];
  return {
    blocked,
    polling,
    raw_atomics: rawAtomics,
    raw_spin: rawSpin,
    sleeping_timer: m.sleeping_timer!,
    raw_timed_wait: { ...m.raw_timed_wait!, timer_slack_ns: timerSlack },
    io_request: io,
    model_exits: { exits_per_s: exitsPerS, per_round: modelExits, loop: 'MSR_IA32_TSC_DEADLINE writes, KVM_RUN on the bench thread' },
    ratios,
    ...(tracing && { tracing }),
    targets,
    kvm_exits: kvmExits,
    per_round: runs,
    method: {
      samples_per_measurement: samples,
      rounds,
      gap_ns: GAP_NS,
      jitter: JITTER,
      timer_delta_ns: TIMER_DELTA_NS,
      io_device_ns: IO_DEVICE_NS,
      io_seconds: ioSeconds,
      statistic: 'median over rounds of each round’s percentile',
    },
    machine: { cores: availableParallelism(), cpu_model: cpus()[0]?.model ?? 'unknown', node: process.version },
  };
}

export type BenchResult = Awaited<ReturnType<typeof measureBench>>;

/** The terminal report: every row, then every target as a ratio beside its bound. */
export function formatBench(result: BenchResult): string {
  const { method } = result;
  const us = (ns: number) => (ns / 1000).toFixed(2).padStart(9);
  const row = (name: string, m: { p50_ns: number; p99_ns: number }) => `${name.padEnd(34)}${us(m.p50_ns)}${us(m.p99_ns)}`;
  const head = (s: string) => `${s}\n${''.padEnd(34)}${'p50'.padStart(9)}${'p99'.padStart(9)}`;
  const fmt = (x: Target) =>
    x.bound === 'min'
      ? `${x.ratio.toFixed(2)} (target >= ${x.target})`
      : `${x.ratio.toFixed(2)}x (target <= ${x.target}x)`;
  const kvm = result.kvm_exits;
  return [
    head(`wake latency, interrupt pending -> guest runs (µs); median of ${method.rounds} rounds x ${method.samples_per_measurement} wakeups, gap ${method.gap_ns / 1000} µs ±${method.jitter * 100}%`),
    row('raw Atomics.wait/notify', result.raw_atomics),
    row('haltlab, vCPU blocked', result.blocked),
    row('raw spin on Atomics.load', result.raw_spin),
    row('haltlab, vCPU halt-polling', result.polling),
    ...(result.tracing ? [row('haltlab blocked, tracing', result.tracing.blocked), row('haltlab polling, tracing', result.tracing.polling)] : []),
    '',
    head(`timer lateness, deadline -> handler (µs); re-armed ${method.timer_delta_ns / 1000} µs ahead`),
    row(`raw timed Atomics.wait (slack ${result.raw_timed_wait.timer_slack_ns ?? '?'} ns)`, result.raw_timed_wait),
    row('haltlab, vCPU asleep in HLT', result.sleeping_timer),
    '',
    head(`dsync-io request latency (µs); ${method.io_device_ns / 1000} µs synthetic device, 1 vCPU, no polling`),
    row('bare metal', { p50_ns: result.io_request.bare_p50_ns, p99_ns: result.io_request.bare_p99_ns }),
    row('haltlab VM path', { p50_ns: result.io_request.vm_p50_ns, p99_ns: result.io_request.vm_p99_ns }),
    `model exit rate, one vCPU (MSR-write loop): ${Math.round(result.model_exits.exits_per_s).toLocaleString('en-US')}/s`,
    kvm.ratio !== null
      ? `kvm backend, KVM_EXIT_IO round trips: ${Math.round(median(kvm.haltlab_exits_per_s))}/s vs a C loop's ${Math.round(median(kvm.c_exits_per_s))}/s`
      : `kvm backend exit rate: not measured here: ${kvm.skipped}`,
    '',
    'targets (issue 14)',
    ...result.targets.map((x) => `  ${x.met ? 'met    ' : 'NOT MET'} ${x.name.padEnd(36)}${fmt(x).padEnd(30)}${x.of}`),
    '',
  ].join('\n');
}

export async function runBench(flags: BenchFlags): Promise<number> {
  const result = await measureBench(flags, (s) => !flags.json && process.stderr.write(s));
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatBench(result));
  return 0;
}
