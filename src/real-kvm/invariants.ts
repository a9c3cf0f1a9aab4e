import type { KvmRunResult, KvmVcpuResult } from '../host/results.ts';
import type { Violation } from '../host/invariants.ts';

/**
 * What every run on real KVM must satisfy, from KVM's own statistics and the guest's and the
 * device's books: the halt statistics add up as kvm_vcpu_halt() keeps them, every device
 * interrupt raised is taken by its guest and EOI'd once, no timer fires early, no sample is lost.
 * These check haltlab's reading of the kernel (the stats parser, the rings, the device thread) as
 * much as the kernel.
 */

const num = (v: KvmVcpuResult, k: string) => (typeof v.stats[k] === 'number' ? (v.stats[k] as number) : Number.NaN);
const histSum = (v: KvmVcpuResult, k: string) => (Array.isArray(v.stats[k]) ? (v.stats[k] as number[]).reduce((a, b) => a + b, 0) : Number.NaN);

export function kvmVcpuViolations(v: KvmVcpuResult): Violation[] {
  const out: Violation[] = [];
  const fail = (invariant: string, detail: string) => out.push({ vcpu: v.id, invariant, detail });
  const successful = num(v, 'halt_successful_poll');
  const attempted = num(v, 'halt_attempted_poll');
  // kvm_vcpu_halt() runs for each HLT, and again for each KVM_RUN that finds the vCPU still halted (after a kick).
  const calls = num(v, 'halt_exits') + v.kvm.kvm_runs;
  if (!(successful <= attempted && attempted <= calls)) fail('halt_successful_poll <= halt_attempted_poll <= halts', `${successful} / ${attempted} / ${calls}`);
  // update_halt_poll_stats(): a polled halt lands in the success or the fail histogram; a halt that slept in the wait one.
  if (histSum(v, 'halt_poll_success_hist') !== successful) fail('halt_poll_success_hist sums to halt_successful_poll', `${histSum(v, 'halt_poll_success_hist')} vs ${successful}`);
  if (histSum(v, 'halt_poll_fail_hist') !== attempted - successful) fail('halt_poll_fail_hist sums to failed polls', `${histSum(v, 'halt_poll_fail_hist')} vs ${attempted - successful}`);
  const waited = histSum(v, 'halt_wait_hist');
  if (!(waited >= attempted - successful && waited <= calls - successful)) fail('failed polls <= halts that slept <= halts not polled successfully', `${attempted - successful} <= ${waited} <= ${calls - successful}`);
  if (v.timer_early_count !== 0) fail('no timer early', `${v.timer_early_count} samples before their deadline`);
  if (v.kvm.samples_lost !== 0) fail('every guest sample read by the host', `${v.kvm.samples_lost} overwritten in the ring`);
  return out;
}

export function kvmRunViolations(r: KvmRunResult): Violation[] {
  const out = r.vcpus.flatMap(kvmVcpuViolations);
  const fail = (invariant: string, detail: string) => out.push({ vcpu: null, invariant, detail });
  if (r.vcpus.length !== r.scenario.vm.vcpus) fail('every vCPU returned results', `${r.vcpus.length} of ${r.scenario.vm.vcpus}`);
  const raised = r.kvm.device_interrupts_raised;
  if (raised !== undefined) {
    const eois = r.kvm.device_eois ?? 0;
    const timers = r.vcpus.reduce((a, v) => a + v.timer_lateness_ns.count, 0);
    const taken = r.vcpus.reduce((a, v) => a + v.wake_latency_ns.count, 0) - timers;
    // One interrupt in flight: raised, then taken by the guest (a sample), then EOI'd (the resamplefd).
    if (taken > raised || raised - taken > 1) fail('every device interrupt raised is taken once by its guest (one may be in flight)', `${raised} raised, ${taken} taken`);
    if (eois > taken || taken - eois > 1) fail('every device interrupt taken is EOI’d once', `${taken} taken, ${eois} EOIs`);
  }
  return out;
}
