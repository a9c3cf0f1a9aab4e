import { EXIT_REASONS } from './kvm/stats.ts';
import type { RunResult, VcpuResult } from './results.ts';

/**
 * What every run must satisfy whatever the timing: KVM's statistics add up,
 * every timer armed fires once and is injected once, every device interrupt
 * raised is delivered once, nothing is early. Each violation names the vCPU
 * and the figures. `haltlab stress` checks these at the end of a run; the
 * tests check them on every scenario.
 */

export interface Violation {
  vcpu: number | null;
  invariant: string;
  detail: string;
}

/** Float sums of ns over a run, converted through seconds: a µs of slack, far below any poll or wait. */
const CLOCK_SLACK_NS = 1_000;
const n = (v: VcpuResult, k: keyof VcpuResult['stats']) => v.stats[k] as number;
const histSum = (v: VcpuResult, k: keyof VcpuResult['stats']) => (v.stats[k] as number[]).reduce((a, b) => a + b, 0);

export function vcpuViolations(v: VcpuResult): Violation[] {
  const out: Violation[] = [];
  const fail = (invariant: string, detail: string) => out.push({ vcpu: v.id, invariant, detail });
  const successful = n(v, 'halt_successful_poll');
  const attempted = n(v, 'halt_attempted_poll');
  const halts = n(v, 'halt_exits');
  // A VMM re-entering a vCPU still halted (after KVM_EXIT_INTR) halts again without a new HLT exit.
  const calls = v.model.halt_calls;
  if (!(successful <= attempted && attempted <= calls)) {
    fail('halt_successful_poll <= halt_attempted_poll <= kvm_vcpu_halt() calls', `${successful} / ${attempted} / ${calls}`);
  }
  // Each log2 histogram holds one entry per event. A halt that polled either succeeded or slept
  // ("success" means it never called schedule()); one that did not poll may find its wake
  // condition before sleeping, and then neither polled nor waited.
  if (histSum(v, 'halt_poll_success_hist') !== successful) fail('halt_poll_success_hist sums to halt_successful_poll', `${histSum(v, 'halt_poll_success_hist')} vs ${successful}`);
  if (histSum(v, 'halt_poll_fail_hist') !== attempted - successful) {
    fail('halt_poll_fail_hist sums to failed polls', `${histSum(v, 'halt_poll_fail_hist')} vs ${attempted - successful}`);
  }
  const waited = histSum(v, 'halt_wait_hist');
  if (!(waited >= attempted - successful && waited <= calls - successful)) {
    fail('failed polls <= halts that slept <= halts not polled successfully', `${attempted - successful} <= ${waited} <= ${calls - successful}`);
  }
  // No bound on halt_wakeup: as in KVM, a waker that finds the task TASK_INTERRUPTIBLE in the
  // window where it re-checks before sleeping counts a wakeup, so one halt can count two.
  const byReason = EXIT_REASONS.reduce((a, r) => a + v.exit_reasons[r], 0);
  if (byReason !== n(v, 'exits')) fail('exits by reason add up to exits', `${byReason} vs ${n(v, 'exits')}`);
  if (v.exit_reasons.HLT !== n(v, 'halt_exits')) fail('HLT exits = halt_exits', `${v.exit_reasons.HLT} vs ${n(v, 'halt_exits')}`);
  const wfx = n(v, 'wfi_exit_stat') + n(v, 'wfe_exit_stat');
  if (v.exit_reasons.ESR_ELx_EC_WFx !== wfx) fail('ESR_ELx_EC_WFx exits = wfi_exit_stat + wfe_exit_stat', `${v.exit_reasons.ESR_ELx_EC_WFx} vs ${wfx}`);
  // kvm_vcpu_on_spin() runs once per PLE exit: at most one successful yield each, and each yield_to() either succeeded, failed (< 0) or returned 0.
  const m = v.model;
  if (m.on_spin_yield_successful > v.exit_reasons.PAUSE_INSTRUCTION) fail('one directed yield at most per PLE exit', `${m.on_spin_yield_successful} yields, ${v.exit_reasons.PAUSE_INSTRUCTION} PLE exits`);
  if (m.on_spin_yield_successful + m.on_spin_yield_failed > m.on_spin_yield_attempted) {
    fail('successful + failed yields <= yields attempted', `${m.on_spin_yield_successful} + ${m.on_spin_yield_failed} > ${m.on_spin_yield_attempted}`);
  }
  for (const k of ['halt_poll_success_ns', 'halt_poll_fail_ns', 'halt_wait_ns'] as const) if (n(v, k) < 0) fail(`${k} >= 0`, String(n(v, k)));
  // The time sums against the thread's run states, on the same clock: each poll [start, poll_end]
  // lies within a stretch of `polling`, and each stretch of `blocked` (only kvm_vcpu_block sleeps
  // there) within a wait [poll_end, wake]. A poll counted twice, or a wait counted short, breaks one.
  const polledNs = n(v, 'halt_poll_success_ns') + n(v, 'halt_poll_fail_ns');
  const pollingNs = (v.cpu.state_s.polling ?? 0) * 1e9;
  const blockedNs = (v.cpu.state_s.blocked ?? 0) * 1e9;
  if (polledNs > pollingNs + CLOCK_SLACK_NS) fail('halt_poll_success_ns + halt_poll_fail_ns <= time in the polling state', `${polledNs} ns polled, ${pollingNs} ns polling`);
  if (blockedNs > n(v, 'halt_wait_ns') + CLOCK_SLACK_NS) fail('time blocked in kvm_vcpu_block <= halt_wait_ns', `${blockedNs} ns blocked, ${n(v, 'halt_wait_ns')} ns halt_wait_ns`);
  if (polledNs + n(v, 'halt_wait_ns') > v.cpu.wall_s * 1e9 + CLOCK_SLACK_NS) fail('polls and waits fit in the vCPU thread’s wall time', `${polledNs + n(v, 'halt_wait_ns')} ns in ${v.cpu.wall_s} s`);
  // Timers: each deadline armed fires once (the last may still be armed), each firing is injected
  // once (the last may still be pending), never early.
  const fired = v.model.timer_fired_in_guest + v.model.timer_fired_by_host + v.model.timer_fired_at_write;
  if (fired > v.model.tsc_deadline_writes) fail('timers fired <= deadlines armed', `${fired} > ${v.model.tsc_deadline_writes}`);
  if (v.timer_early_count !== 0) fail('no timer early', `${v.timer_early_count} early samples`);
  // Posted interrupts (into a vCPU idling in guest mode) are deliveries without a KVM injection.
  const injected = n(v, 'irq_injections') + v.model.posted_interrupts;
  if (injected - v.wake_latency_ns.count < 0 || injected - v.wake_latency_ns.count > 1) {
    fail('one wake-latency sample per injection', `${v.wake_latency_ns.count} samples for ${injected} injections`);
  }
  if (v.model.timer_interrupts_injected + v.model.device_interrupts_injected !== injected) {
    fail('timer + device deliveries = irq_injections + posted_interrupts', `${v.model.timer_interrupts_injected} + ${v.model.device_interrupts_injected} vs ${injected}`);
  }
  // KVM_EXIT_HLT reaches the VMM only for an emulated HLT.
  if (v.model.kvm_exit_hlt > halts) fail('KVM_EXIT_HLT returns <= halt_exits', `${v.model.kvm_exit_hlt} > ${halts}`);
  if (v.model.kvm_exit_mwait + v.model.mwait_yields > v.exit_reasons.MWAIT_INSTRUCTION) {
    fail('KVM_EXIT_MWAIT returns + MWAIT yields <= MWAIT exits', `${v.model.kvm_exit_mwait} + ${v.model.mwait_yields} > ${v.exit_reasons.MWAIT_INSTRUCTION}`);
  }
  return out;
}

/**
 * Whole-run invariants. `inFlight` is how many interrupts may legitimately be
 * between "raised" and "injected" when the run stops (one per vCPU per line).
 */
export function runViolations(r: RunResult): Violation[] {
  const out = r.vcpus.flatMap(vcpuViolations);
  const fail = (invariant: string, detail: string) => out.push({ vcpu: null, invariant, detail });
  if (r.block?.bare_metal) {
    // No VM: only the write loop's own books.
    if (r.block.io_latency_ns.count !== r.block.requests_completed) fail('one latency sample per write', `${r.block.io_latency_ns.count} for ${r.block.requests_completed}`);
    return out;
  }
  if (r.vcpus.length !== r.scenario.vm.vcpus) fail('every vCPU returned results', `${r.vcpus.length} of ${r.scenario.vm.vcpus}`);
  const timerInjections = r.vcpus.reduce((a, v) => a + v.model.timer_interrupts_injected, 0);
  const timerHandled = r.vcpus.reduce((a, v) => a + v.timer_lateness_ns.count, 0);
  const fired = r.vcpus.reduce((a, v) => a + v.model.timer_fired_in_guest + v.model.timer_fired_by_host + v.model.timer_fired_at_write, 0);
  if (fired - timerInjections < 0 || fired - timerInjections > r.vcpus.length) {
    fail('every timer fired is injected once (one per vCPU may be pending at the stop)', `${fired} fired, ${timerInjections} injected`);
  }
  if (r.scenario.workload.kind !== 'irq-wake' && (timerInjections - timerHandled < 0 || timerInjections - timerHandled > r.vcpus.length)) {
    fail('every timer interrupt injected is handled by the guest', `${timerInjections} injected, ${timerHandled} handled`);
  }
  if (r.host.timers_fired !== r.vcpus.reduce((a, v) => a + v.model.timer_fired_by_host, 0)) {
    fail('host timer expiries = vCPUs’ timer_fired_by_host', String(r.host.timers_fired));
  }
  if (r.host.device_interrupts_raised !== undefined) {
    const injected = r.vcpus.reduce((a, v) => a + v.model.device_interrupts_injected, 0);
    const raised = r.host.device_interrupts_raised;
    if (injected > raised) fail('no device interrupt delivered twice', `${injected} delivered, ${raised} raised`);
    if (raised - injected > 1) fail('every device interrupt delivered (one may be in flight)', `${raised} raised, ${injected} delivered`);
    const eois = r.host.device_eois ?? 0;
    if (eois > injected || injected - eois > 1) fail('every delivered device interrupt EOI’d once', `${eois} EOIs for ${injected}`);
  }
  if (r.scenario.host.kvm_intel.ple_gap === 0 || r.scenario.host.kvm_cap_x86_disable_exits.pause) {
    const ple = r.vcpus.reduce((a, v) => a + v.exit_reasons.PAUSE_INSTRUCTION, 0);
    if (ple !== 0) fail('no PLE exits with ple_gap=0 or KVM_X86_DISABLE_EXITS_PAUSE (pause_in_guest)', `${ple} PAUSE_INSTRUCTION exits`);
  }
  if (r.spinlock) {
    const { acquisitions, releases, mutual_exclusion_violations: bad } = r.spinlock;
    if (bad !== 0) fail('mutual exclusion (checked by the guest)', `${bad} violations`);
    // The run stops at an instruction boundary: at most one vCPU may be holding the lock.
    if (releases > acquisitions || acquisitions - releases > 1) fail('every acquisition released (one may be held at the stop)', `${acquisitions} acquired, ${releases} released`);
    // Each vCPU samples its spin time just before it counts its acquisition.
    const sampled = r.spinlock.spin_time_ns.count;
    if (sampled < acquisitions || sampled - acquisitions > r.vcpus.length) fail('one spin-time sample per acquisition', `${sampled} samples, ${acquisitions} acquisitions`);
  }
  if (r.sim) {
    const { ticks, ticks_injected: taken } = r.sim;
    if (taken > ticks || ticks - taken > r.vcpus.length) fail('every simulated timer tick taken once (one per vCPU may be pending)', `${ticks} raised, ${taken} taken`);
  }
  if (r.deferred) {
    // Every item queued is run exactly once, or still queued at the end.
    const d = r.deferred;
    const done = d.done.workers + d.done.vcpus + d.done.fallback;
    if (done + d.left !== d.created) fail('every work item run exactly once or still queued', `${d.created} created, ${done} run, ${d.left} left`);
    if (d.overflows !== 0) fail('the work queue never overflows', `${d.overflows} refused`);
    const byVcpus = d.vcpu_items.reduce((a, b) => a + b, 0);
    if (byVcpus !== d.done.vcpus) fail('items run by vCPUs add up', `${byVcpus} vs ${d.done.vcpus}`);
    const waited = d.wait_ns.workers.count + d.wait_ns.vcpus.count + d.wait_ns.fallback.count;
    if (waited !== done) fail('one queue-wait sample per item run', `${waited} for ${done}`);
  }
  if (r.block) {
    // One request outstanding per vCPU: each notify is a request taken; each completion one interrupt.
    const q = r.vcpus.length;
    const notifies = r.vcpus.reduce((a, v) => a + v.exit_reasons.IO_INSTRUCTION, 0);
    const { requests_submitted: submitted, requests_completed: completed } = r.block;
    const injected = r.vcpus.reduce((a, v) => a + v.model.device_interrupts_injected, 0);
    const seen = r.block.io_latency_ns.count;
    if (submitted > notifies || notifies - submitted > q) fail('every queue notify is a request taken (one per vCPU may be unread at the stop)', `${notifies} notifies, ${submitted} taken`);
    if (completed > submitted || submitted - completed > q) fail('every request taken completes (one per vCPU may be in flight)', `${submitted} taken, ${completed} completed`);
    if (injected > completed || completed - injected > q) fail('every completion delivered once as an interrupt', `${completed} completed, ${injected} delivered`);
    if (seen > injected || injected - seen > q) fail('every completion interrupt seen by the guest', `${injected} delivered, ${seen} seen`);
  }
  return out;
}
