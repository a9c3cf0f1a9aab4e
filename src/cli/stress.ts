import { memoryUsage } from 'node:process';
import { createVm } from '../host/vm.ts';
import type { AnyRunResult, Backend, KvmRunResult, RunResult } from '../host/results.ts';
import { runViolations, type Violation } from '../host/invariants.ts';
import { Watchdog, type WatchdogFinding } from '../host/watchdog.ts';
import type { FaultSpec } from '../host/faults.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { iothreadsOf } from '../workloads/index.ts';
import { actorSlots } from '../host/actor-slots.ts';
import { bareWorkersBaseline, type BareWorkersBaseline } from '../actors/bare-workers.ts';
import pc from 'picocolors';
import { progressLine, progressWanted } from './execute.ts';

/**
 * `haltlab stress`: many vCPUs on few pCPUs, every wakeup path at once (the
 * `mixed` guest: each vCPU's own deadline timer, plus a device raising
 * interrupts through an I/O thread), watched while it runs and checked at the
 * end. The verdict is pass or fail; fail exits non-zero.
 */

export interface StressReport {
  verdict: 'pass' | 'fail';
  reasons: string[];
  scenario: Scenario;
  /**
   * The model's watchdog over shared memory. On real KVM a lost wakeup is found by the run itself
   * (a device interrupt not EOI'd, a guest timer not fired, within the bound) and stops it: no
   * checks, no findings here, the reason in `reasons`.
   */
  watchdog: { bound_ms: number; checks: number; findings: WatchdogFinding[] };
  invariants: { violations: Violation[] };
  /** Counts; null where the backend does not count it (real KVM has no statistic for deadlines armed or fired). */
  interrupts: {
    deadlines_armed: number | null;
    timers_fired: number | null;
    timer_interrupts_handled: number;
    device_raised: number;
    device_delivered: number;
    device_eois: number;
  };
  /**
   * As many bare ES-module workers as the run's threads, started the same way just before it in this
   * process (actors/bare-workers.ts), and the run's start-up and peak RSS over theirs (null: not asked for).
   */
  baseline: null | (BareWorkersBaseline & { start_ratio: number; rss_peak_ratio: number; rss_rise_ratio: number });
  memory: { rss_before_bytes: number; rss_peak_bytes: number; /** null: no sample was taken a third into the run, so growth was not checked. */ rss_at_third_bytes: number | null; rss_end_bytes: number; heap_per_thread_median_bytes: number; heap_per_thread_max_bytes: number };
  result: AnyRunResult;
}

export interface StressOptions {
  signal: AbortSignal;
  boundMs: number;
  faults?: FaultSpec[];
  quiet?: boolean;
  backend?: Backend;
  /** Start as many bare workers as the run has threads first, as its floor (the model backend only). */
  baseline?: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** What the stress run watches while it goes, from either backend. */
interface Watched<R> {
  elapsedS(): number;
  /** The run is being stopped: threads are going away, and stopped vCPUs are not stuck ones. */
  stopping(): boolean;
  interrupts(): number;
  halts(): number;
  /** Lost wakeups found so far (the model's watchdog). */
  check(): WatchdogFinding[];
  run(signal: AbortSignal): Promise<R>;
}

/** Run, sampling memory and the watchdog every 200 ms, stopping at the first finding. */
async function watched<R extends AnyRunResult>(scenario: Scenario, opts: StressOptions, w: Watched<R>) {
  const findings: WatchdogFinding[] = [];
  const stop = new AbortController();
  opts.signal.addEventListener('abort', () => stop.abort(), { once: true });
  let rssPeak = memoryUsage.rss();
  let rssThird = 0;
  let rssLast = rssPeak;
  const rssBefore = rssPeak;
  const showProgress = progressWanted(opts.quiet);
  const tick = setInterval(() => {
    const elapsed = w.elapsedS();
    if (elapsed === 0) return;
    const rss = memoryUsage.rss();
    rssPeak = Math.max(rssPeak, rss);
    const running = !w.stopping();
    if (running) rssLast = rss;
    if (!rssThird && elapsed >= scenario.duration_s / 3) rssThird = rss;
    const found = running ? w.check() : [];
    if (found.length && !findings.length) {
      findings.push(...found);
      stop.abort(); // a lost wakeup will not heal: stop now, keep what was measured
    }
    if (showProgress) {
      progressLine(
        `stress · ${elapsed.toFixed(1)}/${scenario.duration_s} s · ${w.interrupts()} interrupts · ` +
          `${w.halts()} halts · RSS ${(rss / 2 ** 20).toFixed(0)} MB · watchdog ${found.length ? 'FOUND A PROBLEM' : 'ok'}`,
      );
    }
  }, 200);
  let result: R;
  try {
    result = await w.run(stop.signal);
  } finally {
    clearInterval(tick);
    if (showProgress) progressLine('');
  }
  // The last sample while the threads were alive (they are gone now, and their memory with them).
  const heaps = result.threads.map((t) => t.heap_bytes);
  const memory = {
    rss_before_bytes: rssBefore,
    rss_peak_bytes: rssPeak,
    rss_at_third_bytes: rssThird || null,
    rss_end_bytes: rssLast,
    heap_per_thread_median_bytes: median(heaps),
    heap_per_thread_max_bytes: Math.max(0, ...heaps),
  };
  return { result, findings, memory };
}

function verdict(base: Omit<StressReport, 'verdict' | 'reasons' | 'baseline'>, floor: BareWorkersBaseline | null = null): StressReport {
  const { result, watchdog, invariants, memory } = base;
  const reasons: string[] = [];
  if (result.status === 'failed') reasons.push(`the run failed: ${result.failure?.message}`);
  if (result.status === 'interrupted' && !watchdog.findings.length) reasons.push('interrupted before the end (Ctrl-C): invariants not checked');
  for (const f of watchdog.findings) reasons.push(`watchdog: vcpu${f.vcpu} ${f.problem}`);
  for (const v of invariants.violations) reasons.push(`invariant broken${v.vcpu === null ? '' : ` on vcpu${v.vcpu}`}: ${v.invariant} (${v.detail})`);
  // Memory must not keep growing: from a third of the run to its end, at most +25% or +64 MB.
  // Without a sample at a third (a run stopped early) the check is not made, and the report says so.
  const third = memory.rss_at_third_bytes;
  if (third !== null && memory.rss_end_bytes - third > Math.max(64 * 2 ** 20, 0.25 * third)) {
    reasons.push(`memory kept growing: RSS ${(third / 2 ** 20).toFixed(0)} MB at a third of the run, ${(memory.rss_end_bytes / 2 ** 20).toFixed(0)} MB at the end`);
  }
  const baseline = floor && {
    ...floor,
    start_ratio: base.result.phases.startup_s / floor.start_s,
    rss_peak_ratio: memory.rss_peak_bytes / floor.rss_peak_bytes,
    rss_rise_ratio: (memory.rss_peak_bytes - memory.rss_before_bytes) / Math.max(1, floor.rss_peak_bytes - floor.rss_before_bytes),
  };
  return { verdict: reasons.length ? 'fail' : 'pass', reasons, ...base, baseline };
}

export async function runStress(scenario: Scenario, opts: StressOptions): Promise<StressReport> {
  return opts.backend === 'kvm' ? stressOnKvm(scenario, opts) : stressOnModel(scenario, opts);
}

async function stressOnModel(scenario: Scenario, opts: StressOptions): Promise<StressReport> {
  let floor: BareWorkersBaseline | null = null;
  if (opts.baseline) {
    const threads = actorSlots(scenario.vm.vcpus, iothreadsOf(scenario.workload)).count;
    if (progressWanted(opts.quiet)) progressLine(`stress · baseline: starting ${threads} bare workers…`);
    floor = await bareWorkersBaseline(threads);
    if (progressWanted(opts.quiet)) progressLine('');
  }
  const vm = createVm(scenario, { flightRecorder: 32 });
  const watchdog = new Watchdog(vm, opts.boundMs * 1e6);
  const { result, findings, memory } = await watched<RunResult>(scenario, opts, {
    elapsedS: () => vm.live().elapsed_s,
    stopping: () => vm.stopRequested,
    interrupts: () => vm.live().interrupts,
    halts: () => vm.live().halt_exits,
    check: () => watchdog.check(),
    run: (signal) => vm.run({ signal, faults: opts.faults }),
  });
  const violations = result.status === 'completed' || findings.length ? runViolations(result) : [];
  const sum = (f: (v: RunResult['vcpus'][number]) => number) => result.vcpus.reduce((a, v) => a + f(v), 0);
  return verdict({
    scenario,
    watchdog: { bound_ms: opts.boundMs, checks: watchdog.checks, findings },
    invariants: { violations },
    interrupts: {
      deadlines_armed: sum((v) => v.model.tsc_deadline_writes),
      timers_fired: sum((v) => v.model.timer_fired_in_guest + v.model.timer_fired_by_host + v.model.timer_fired_at_write),
      timer_interrupts_handled: sum((v) => v.timer_lateness_ns.count),
      device_raised: result.host.device_interrupts_raised ?? 0,
      device_delivered: sum((v) => v.model.device_interrupts_injected),
      device_eois: result.host.device_eois ?? 0,
    },
    memory,
    result,
  }, floor);
}

async function stressOnKvm(scenario: Scenario, opts: StressOptions): Promise<StressReport> {
  const { KvmRun } = await import('../real-kvm/run.ts');
  const { kvmRunViolations } = await import('../real-kvm/invariants.ts');
  const run = new KvmRun(scenario, { lostWakeupMs: opts.boundMs });
  const sum = (k: string) => run.stats().reduce((a, s) => a + (s[k] ?? 0), 0);
  let stopping = false;
  const { result, findings, memory } = await watched<KvmRunResult>(scenario, opts, {
    elapsedS: () => run.elapsedS(),
    stopping: () => stopping || run.elapsedS() >= scenario.duration_s,
    interrupts: () => sum('irq_injections'),
    halts: () => sum('halt_exits'),
    check: () => [],
    run: (signal) => {
      signal.addEventListener('abort', () => (stopping = true), { once: true });
      return run.run({ signal, faults: opts.faults });
    },
  });
  const violations = result.status === 'completed' ? kvmRunViolations(result) : [];
  const timers = result.vcpus.reduce((a, v) => a + v.timer_lateness_ns.count, 0);
  return verdict({
    scenario,
    watchdog: { bound_ms: opts.boundMs, checks: 0, findings },
    invariants: { violations },
    interrupts: {
      deadlines_armed: null,
      timers_fired: null,
      timer_interrupts_handled: timers,
      device_raised: result.kvm.device_interrupts_raised ?? 0,
      device_delivered: result.vcpus.reduce((a, v) => a + v.wake_latency_ns.count, 0) - timers,
      device_eois: result.kvm.device_eois ?? 0,
    },
    memory,
    result,
  });
}

export function renderStress(r: StressReport): string {
  const s = r.scenario;
  const w = s.workload as { delta_ns: number; gap_ns: number };
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
  const i = r.interrupts;
  const lines = [
    `haltlab stress · ${s.vm.vcpus} vCPUs ${r.result.backend === 'kvm' ? 'on real KVM' : `on ${s.host.pcpus} pCPUs`} · ${r.result.wall_s.toFixed(1)} s · each vCPU's timer every ${w.delta_ns / 1000} µs, a device interrupt every ~${w.gap_ns / 1000} µs`,
    `machine: ${r.result.machine.cores} cores, ${r.result.machine.cpu_model}, Node ${r.result.machine.node}; ` +
      `threads started in ${r.result.phases.startup_s.toFixed(1)} s, stopped in ${r.result.phases.teardown_s.toFixed(1)} s`,
    ...r.result.warnings.map((x) => `warning: ${x}`),
    '',
    i.deadlines_armed === null
      ? `timers:  ${i.timer_interrupts_handled} handled by the guest (KVM counts no deadlines armed or fired)`
      : `timers:  ${i.deadlines_armed} deadlines armed, ${i.timers_fired} fired, ${i.timer_interrupts_handled} handled by the guest (at most one per vCPU still in flight at the stop)`,
    `device:  ${i.device_raised} interrupts raised, ${i.device_delivered} delivered, ${i.device_eois} EOIs back to the device`,
    r.result.backend === 'kvm'
      ? `lost wakeups: bound ${r.watchdog.bound_ms} ms (a device interrupt not EOI'd or a vCPU's timer not firing for that long stops the run as failed)`
      : `watchdog: ${r.watchdog.findings.length ? `${r.watchdog.findings.length} finding(s)` : `no vCPU stayed blocked with a wake condition for ${r.watchdog.bound_ms} ms`} (${r.watchdog.checks} checks of every vCPU)`,
    ...r.watchdog.findings.flatMap((f) => [
      `  vcpu${f.vcpu} at ${f.at_s.toFixed(2)} s: ${f.problem}`,
      `    state: ${f.state}`,
      `    last events: ${f.last_events.length ? '' : '(none recorded)'}`,
      ...f.last_events.map((e) => `      ${e}`),
    ]),
    `invariants: ${r.invariants.violations.length ? `${r.invariants.violations.length} broken` : 'all hold (statistics add up; every interrupt delivered once; none early)'}`,
    `memory: RSS peak ${mb(r.memory.rss_peak_bytes)} (${r.memory.rss_at_third_bytes === null ? 'no sample at a third of the run: growth not checked' : `${mb(r.memory.rss_at_third_bytes)} at a third of the run`}, ${mb(r.memory.rss_end_bytes)} at the end); ` +
      `V8 heap per thread: median ${mb(r.memory.heap_per_thread_median_bytes)}, max ${mb(r.memory.heap_per_thread_max_bytes)}`,
    ...(r.baseline
      ? [
          `baseline: ${r.baseline.threads} bare ES-module workers started the same way in this process: in ${r.baseline.start_s.toFixed(1)} s, RSS peak ${mb(r.baseline.rss_peak_bytes)}, gone in ${r.baseline.teardown_s.toFixed(1)} s; ` +
            `the run's threads: start ${r.baseline.start_ratio.toFixed(2)}x (target <= 1.2x), RSS peak ${r.baseline.rss_peak_ratio.toFixed(2)}x (target <= 1.3x; rise over the process's RSS before ${r.baseline.rss_rise_ratio.toFixed(2)}x), teardown ${r.result.phases.teardown_s.toFixed(1)} s (target <= 2 s)`,
        ]
      : []),
    '',
    `verdict: ${r.verdict === 'pass' ? pc.green('PASS') : pc.bold(pc.red('FAIL'))}`,
    ...r.reasons.map((x) => `  - ${x}`),
  ];
  return lines.join('\n');
}
