import { memoryUsage } from 'node:process';
import { createVm } from '../host/vm.ts';
import type { RunResult } from '../host/results.ts';
import { runViolations, type Violation } from '../host/invariants.ts';
import { Watchdog, type WatchdogFinding } from '../host/watchdog.ts';
import type { FaultSpec } from '../host/faults.ts';
import type { Scenario } from '../scenarios/schema.ts';
import { progressWanted } from './execute.ts';

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
  watchdog: { bound_ms: number; checks: number; findings: WatchdogFinding[] };
  invariants: { violations: Violation[] };
  interrupts: {
    deadlines_armed: number;
    timers_fired: number;
    timer_interrupts_handled: number;
    device_raised: number;
    device_delivered: number;
    device_eois: number;
  };
  memory: { rss_peak_bytes: number; /** null: no sample was taken a third into the run, so growth was not checked. */ rss_at_third_bytes: number | null; rss_end_bytes: number; heap_per_thread_median_bytes: number; heap_per_thread_max_bytes: number };
  result: RunResult;
}

export interface StressOptions {
  signal: AbortSignal;
  boundMs: number;
  faults?: FaultSpec[];
  quiet?: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export async function runStress(scenario: Scenario, opts: StressOptions): Promise<StressReport> {
  const vm = createVm(scenario, { flightRecorder: 32 });
  const watchdog = new Watchdog(vm, opts.boundMs * 1e6);
  const findings: WatchdogFinding[] = [];
  const stop = new AbortController();
  opts.signal.addEventListener('abort', () => stop.abort(), { once: true });
  let rssPeak = memoryUsage.rss();
  let rssThird = 0;
  let rssLast = rssPeak;
  const showProgress = progressWanted(opts.quiet);
  const tick = setInterval(() => {
    const live = vm.live();
    if (live.elapsed_s === 0) return;
    const rss = memoryUsage.rss();
    rssPeak = Math.max(rssPeak, rss);
    // Not during teardown: threads are going away, and stopped vCPUs are not stuck ones.
    const running = !vm.stopRequested;
    if (running) rssLast = rss;
    if (!rssThird && live.elapsed_s >= scenario.duration_s / 3) rssThird = rss;
    const found = running ? watchdog.check() : [];
    if (found.length && !findings.length) {
      findings.push(...found);
      stop.abort(); // a lost wakeup will not heal: stop now, keep what was measured
    }
    if (showProgress) {
      process.stderr.write(
        `\r\x1b[Kstress · ${live.elapsed_s.toFixed(1)}/${scenario.duration_s} s · ${live.interrupts} interrupts · ` +
          `${live.halt_exits} halts · RSS ${(rss / 2 ** 20).toFixed(0)} MB · watchdog ${found.length ? 'FOUND A PROBLEM' : 'ok'}`,
      );
    }
  }, 200);
  let result: RunResult;
  try {
    result = await vm.run({ signal: stop.signal, faults: opts.faults });
  } finally {
    clearInterval(tick);
    if (showProgress) process.stderr.write('\r\x1b[K');
  }
  // The last sample while the threads were alive (they are gone now, and their memory with them).
  const rssEnd = rssLast;
  const violations = result.status === 'completed' || findings.length ? runViolations(result) : [];
  const sum = (f: (v: RunResult['vcpus'][number]) => number) => result.vcpus.reduce((a, v) => a + f(v), 0);
  const timerHandled = sum((v) => v.timer_lateness_ns.count);
  const interrupts = {
    deadlines_armed: sum((v) => v.model.tsc_deadline_writes),
    timers_fired: sum((v) => v.model.timer_fired_in_guest + v.model.timer_fired_by_host + v.model.timer_fired_at_write),
    timer_interrupts_handled: timerHandled,
    device_raised: result.host.device_interrupts_raised ?? 0,
    device_delivered: sum((v) => v.model.device_interrupts_injected),
    device_eois: result.host.device_eois ?? 0,
  };
  const heaps = result.threads.map((t) => t.heap_bytes);
  const memory = {
    rss_peak_bytes: rssPeak,
    rss_at_third_bytes: rssThird || null,
    rss_end_bytes: rssEnd,
    heap_per_thread_median_bytes: median(heaps),
    heap_per_thread_max_bytes: Math.max(0, ...heaps),
  };
  const reasons: string[] = [];
  if (result.status === 'failed') reasons.push(`the run failed: ${result.failure?.message}`);
  if (result.status === 'interrupted' && !findings.length) reasons.push('interrupted before the end (Ctrl-C): invariants not checked');
  for (const f of findings) reasons.push(`watchdog: vcpu${f.vcpu} ${f.problem}`);
  for (const v of violations) reasons.push(`invariant broken${v.vcpu === null ? '' : ` on vcpu${v.vcpu}`}: ${v.invariant} (${v.detail})`);
  // Memory must not keep growing: from a third of the run to its end, at most +25% or +64 MB.
  // Without a sample at a third (a run stopped early) the check is not made, and the report says so.
  const third = memory.rss_at_third_bytes;
  if (third !== null && memory.rss_end_bytes - third > Math.max(64 * 2 ** 20, 0.25 * third)) {
    reasons.push(`memory kept growing: RSS ${(third / 2 ** 20).toFixed(0)} MB at a third of the run, ${(rssEnd / 2 ** 20).toFixed(0)} MB at the end`);
  }
  return {
    verdict: reasons.length ? 'fail' : 'pass',
    reasons,
    scenario,
    watchdog: { bound_ms: opts.boundMs, checks: watchdog.checks, findings },
    invariants: { violations },
    interrupts,
    memory,
    result,
  };
}

export function renderStress(r: StressReport): string {
  const s = r.scenario;
  const w = s.workload as { delta_ns: number; gap_ns: number };
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
  const i = r.interrupts;
  const lines = [
    `haltlab stress · ${s.vm.vcpus} vCPUs on ${s.host.pcpus} pCPUs · ${r.result.wall_s.toFixed(1)} s · each vCPU's timer every ${w.delta_ns / 1000} µs, a device interrupt every ~${w.gap_ns / 1000} µs`,
    `machine: ${r.result.machine.cores} cores, ${r.result.machine.cpu_model}, Node ${r.result.machine.node}; ` +
      `threads started in ${r.result.phases.startup_s.toFixed(1)} s, stopped in ${r.result.phases.teardown_s.toFixed(1)} s`,
    ...r.result.warnings.map((x) => `warning: ${x}`),
    '',
    `timers:  ${i.deadlines_armed} deadlines armed, ${i.timers_fired} fired, ${i.timer_interrupts_handled} handled by the guest (at most one per vCPU still in flight at the stop)`,
    `device:  ${i.device_raised} interrupts raised, ${i.device_delivered} delivered, ${i.device_eois} EOIs back to the device`,
    `watchdog: ${r.watchdog.findings.length ? `${r.watchdog.findings.length} finding(s)` : `no vCPU stayed blocked with a wake condition for ${r.watchdog.bound_ms} ms`} (${r.watchdog.checks} checks of every vCPU)`,
    ...r.watchdog.findings.flatMap((f) => [
      `  vcpu${f.vcpu} at ${f.at_s.toFixed(2)} s: ${f.problem}`,
      `    state: ${f.state}`,
      `    last events: ${f.last_events.length ? '' : '(none recorded)'}`,
      ...f.last_events.map((e) => `      ${e}`),
    ]),
    `invariants: ${r.invariants.violations.length ? `${r.invariants.violations.length} broken` : 'all hold (statistics add up; every interrupt delivered once; none early)'}`,
    `memory: RSS peak ${mb(r.memory.rss_peak_bytes)} (${r.memory.rss_at_third_bytes === null ? 'no sample at a third of the run: growth not checked' : `${mb(r.memory.rss_at_third_bytes)} at a third of the run`}, ${mb(r.memory.rss_end_bytes)} at the end); ` +
      `V8 heap per thread: median ${mb(r.memory.heap_per_thread_median_bytes)}, max ${mb(r.memory.heap_per_thread_max_bytes)}`,
    '',
    `verdict: ${r.verdict.toUpperCase()}`,
    ...r.reasons.map((x) => `  - ${x}`),
  ];
  return lines.join('\n');
}
