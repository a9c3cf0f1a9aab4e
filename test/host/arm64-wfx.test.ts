import { describe, expect, it } from 'vitest';
import { Assembler } from '../../src/guest/assembler.ts';
import { GuestCpu } from '../../src/guest/interpreter.ts';
import { MSR_IA32_TSC_DEADLINE } from '../../src/guest/isa.ts';
import { LAPIC_TIMER_VECTOR } from '../../src/guest/kernel/vectors.ts';
import { KVM_EXIT, KvmVcpu } from '../../src/host/kvm/vcpu.ts';
import { readVcpuStats } from '../../src/host/kvm/stats.ts';
import { writeArch, writeKvmParams, type Arm64VmConfig } from '../../src/host/kvm/vm-state.ts';
import { kvmParamDefaults } from '../../src/host/kvm/params.ts';
import { RUN_STATE_NAMES, VF } from '../../src/host/kvm/vcpu-state.ts';
import { runStatesByName } from '../../src/host/thread-state.ts';
import { allocateVm, vcpuShared } from '../../src/host/layout.ts';
import { Scheduler } from '../../src/host/sched/scheduler.ts';

// One arm64 vCPU on one pCPU, run on this thread (no workers): a guest that arms its timer 1 ms
// ahead and executes one WFI (or WFE), whose handler EOIs and returns, then runs off its end. Exact
// stat deltas for each trap setting. A trapped WFI goes through kvm_vcpu_halt(): the window is
// preset to 1 s so the halt polls and the vCPU's own timer ends the poll (no host thread needed).

function wfxGuest(op: 'wfi' | 'wfe') {
  const a = new Assembler();
  a.label('entry').rdtsc(1).addi(1, 1, 1_000_000).wrmsr(MSR_IA32_TSC_DEADLINE, 1).sti();
  if (op === 'wfi') a.wfi();
  else a.wfe();
  a.jmp('end');
  a.label('isr').eoi().iret().handler(LAPIC_TIMER_VECTOR, 'isr');
  a.label('end');
  return a.assemble(`one-${op}`);
}

function runOne(op: 'wfi' | 'wfe', arm64: Partial<Arm64VmConfig>) {
  const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
  const kvm = mem.record('kvm', 0);
  writeKvmParams(kvm, { ...kvmParamDefaults('6.11', 'arm64'), halt_poll_ns: 1_000_000_000 });
  writeArch(kvm, 'arm64', { wfi_trap_policy: 'default', wfe_trap_policy: 'default', direct_injection: false, wfx_rq_threshold: null, ...arm64 });
  const sched = new Scheduler(mem);
  const shared = vcpuShared(mem, 0);
  shared.v.f64[VF.halt_poll_ns] = 1_000_000_000;
  const injected: number[] = [];
  const vcpu = new KvmVcpu(shared, 0, sched, mem.record('host', 0), kvm, new GuestCpu(wfxGuest(op)), { injected: (line) => injected.push(line), sample: () => {} });
  sched.acquire(0);
  const exit = vcpu.run();
  sched.release(0);
  const { stats, exit_reasons, model } = readVcpuStats(mem.record('vcpu_stats', 0));
  return { exit, stats, exit_reasons, model, injected, states: runStatesByName(shared.t) };
}

describe('arm64 WFI/WFE on one vCPU (exact stat deltas)', () => {
  it('a trapped WFI (default policy, no direct injection) is one wfi_exit_stat and one halt through kvm_vcpu_halt', () => {
    const r = runOne('wfi', {});
    expect(r.exit).toBe(KVM_EXIT.SHUTDOWN);
    expect(r.stats.wfi_exit_stat).toBe(1);
    expect(r.stats.wfe_exit_stat).toBe(0);
    expect(r.exit_reasons.ESR_ELx_EC_WFx).toBe(1);
    expect(r.exit_reasons.ESR_ELx_EC_SYS64).toBe(1); // the deadline write
    expect(r.exit_reasons.HLT).toBe(0);
    expect(r.stats.exits).toBe(2);
    expect(r.stats.halt_exits).toBe(0); // an x86 stat
    expect(r.stats.halt_attempted_poll).toBe(1);
    expect(r.stats.halt_successful_poll).toBe(1);
    expect(r.model.wfi_native).toBe(0);
    expect(r.model.vcpu_loads).toBe(1);
    expect(r.model.vcpu_loads_twi).toBe(1);
    expect(r.model.vcpu_loads_twe).toBe(0); // alone on its runqueue
    expect(r.injected).toEqual([0]);
    expect(r.states.native_idle).toBe(0);
  });

  it.each([
    ['wfi_trap_policy=notrap', { wfi_trap_policy: 'notrap' }],
    ['GICv4 direct injection, alone', { direct_injection: true }],
    ['the proposal with threshold 1, alone', { wfx_rq_threshold: 1 }],
  ] as const)('an untrapped WFI (%s) waits in guest mode: no exit for it, no halt; the timer ends it as an IRQ exit', (_name, arm64) => {
    const r = runOne('wfi', arm64);
    expect(r.exit).toBe(KVM_EXIT.SHUTDOWN);
    expect(r.stats.wfi_exit_stat).toBe(0);
    expect(r.exit_reasons.ESR_ELx_EC_WFx).toBe(0);
    expect(r.exit_reasons.IRQ).toBe(1);
    expect(r.stats.exits).toBe(2);
    expect(r.stats.halt_attempted_poll).toBe(0);
    expect(r.stats.halt_wakeup).toBe(0);
    expect(r.model.wfi_native).toBe(1);
    expect(r.model.vcpu_loads_twi).toBe(0);
    expect(r.injected).toEqual([0]);
    expect(r.states.native_idle).toBeGreaterThan(0);
    expect(RUN_STATE_NAMES[RUN_STATE_NAMES.length - 1]).toBe('native_idle'); // appended last, for merges
  });

  it('a trapped WFE is one wfe_exit_stat and never halts', () => {
    const r = runOne('wfe', { wfe_trap_policy: 'trap' });
    expect(r.exit).toBe(KVM_EXIT.SHUTDOWN);
    expect(r.stats.wfe_exit_stat).toBe(1);
    expect(r.stats.wfi_exit_stat).toBe(0);
    expect(r.exit_reasons.ESR_ELx_EC_WFx).toBe(1);
    expect(r.stats.halt_attempted_poll).toBe(0);
    expect(r.stats.halt_wakeup).toBe(0);
    expect(r.model.wfe_native).toBe(0);
    expect(r.injected).toEqual([]); // it ran off its end before the timer came
  });

  it('an untrapped WFE (default policy, alone) is a short wait in guest mode', () => {
    const r = runOne('wfe', {});
    expect(r.stats.wfe_exit_stat).toBe(0);
    expect(r.exit_reasons.ESR_ELx_EC_WFx).toBe(0);
    expect(r.model.wfe_native).toBe(1);
    expect(r.model.vcpu_loads_twe).toBe(0);
    expect(r.states.native_idle).toBeGreaterThan(0);
  });

  it('refuses WFI on an x86 host', () => {
    const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
    const sched = new Scheduler(mem);
    const vcpu = new KvmVcpu(vcpuShared(mem, 0), 0, sched, mem.record('host', 0), mem.record('kvm', 0), new GuestCpu(wfxGuest('wfi')), { injected: () => {}, sample: () => {} });
    sched.acquire(0);
    expect(() => vcpu.run()).toThrow(/WFI on an x86 host/);
  });
});
