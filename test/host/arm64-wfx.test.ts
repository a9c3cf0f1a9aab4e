import { describe, expect, it } from 'vitest';
import { Assembler } from '../../src/guest/assembler.ts';
import { GuestCpu } from '../../src/guest/interpreter.ts';
import { MSR_IA32_TSC_DEADLINE } from '../../src/guest/isa.ts';
import { DEVICE_VECTOR, LAPIC_TIMER_VECTOR } from '../../src/guest/kernel/vectors.ts';
import { spawnActor } from '../../src/actors/actor.ts';
import { KvmVcpu } from '../../src/host/kvm/kvm-vcpu.ts';
import { KVM_EXIT } from '../../src/host/kvm/uapi.ts';
import { kvmVcpuRun } from '../../src/host/kvm/vcpu.ts';
import { readVcpuStats, VCPU_STAT } from '../../src/host/kvm/stats.ts';
import { KVM, writeArch, writeKvmParams, type Arm64VmConfig } from '../../src/host/kvm/vm-state.ts';
import { kvmParamDefaults } from '../../src/host/kvm/params.ts';
import { IDLE_WAIT, LINE } from '../../src/host/kvm/vcpu-state.ts';
import { kvmSetIrqPending } from '../../src/host/kvm/kick.ts';
import { now } from '../../src/actors/clock.ts';
import { runStatesByName } from '../../src/host/thread-state.ts';
import { allocateVm, vcpuRecords } from '../../src/host/layout.ts';
import { Scheduler } from '../../src/host/sched/scheduler.ts';

// One arm64 vCPU on one pCPU, run on this thread (no workers): a guest that arms its timer 1 ms
// ahead and executes one WFI (or WFE), whose handler EOIs and returns, then runs off its end. Exact
// stat deltas for each trap setting. A trapped WFI goes through kvm_vcpu_halt(): the window is
// preset to 1 s so the halt polls and the vCPU's own timer ends the poll (no host thread needed).

function wfxGuest(op: 'wfi' | 'wfe', masked = false) {
  const a = new Assembler();
  // Masked: the timer is 50 ms ahead, a backstop far beyond what the pending device interrupt should take.
  a.label('entry').rdtsc(1).addi(1, 1, masked ? 50_000_000 : 1_000_000).wrmsr(MSR_IA32_TSC_DEADLINE, 1);
  if (masked) a.cli();
  else a.sti();
  if (op === 'wfi') a.wfi();
  else a.wfe();
  a.jmp('end');
  a.label('isr').eoi().iret().handler(LAPIC_TIMER_VECTOR, 'isr');
  a.label('end');
  return a.assemble(`one-${op}`);
}

function runOne(op: 'wfi' | 'wfe', arm64: Partial<Arm64VmConfig>, masked = false) {
  const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
  const kvm = mem.record(KVM, 0);
  writeKvmParams(kvm, { ...kvmParamDefaults('6.11', 'arm64'), halt_poll_ns: 1_000_000_000 });
  writeArch(kvm, 'arm64', { wfi_trap_policy: 'default', wfe_trap_policy: 'default', direct_injection: false, wfx_rq_threshold: null, ...arm64 });
  const sched = new Scheduler(mem);
  const shared = vcpuRecords(mem, 0);
  shared.block.set('halt_poll_ns', 1_000_000_000);
  const injected: number[] = [];
  const vcpu = new KvmVcpu({ mem, id: 0, sched, guest: new GuestCpu(wfxGuest(op, masked)), observer: { injected: (line: number) => injected.push(line), sample: () => {} } });
  sched.acquire(0);
  if (masked) kvmSetIrqPending(shared, LINE.DEVICE0, now()); // a device interrupt the masked guest cannot take
  const exit = kvmVcpuRun(vcpu);
  sched.release(0);
  const { stats, exit_reasons, model } = readVcpuStats(mem.record(VCPU_STAT, 0));
  return { exit, stats, exit_reasons, model, injected, states: runStatesByName(shared.thread) };
}

describe('arm64 WFI/WFE on one vCPU (exact stat deltas)', () => {
  it('a trapped WFI with PSTATE.I masked ends on a pending device interrupt (kvm_vcpu_has_pending_irqs ignores the mask), which stays pending', () => {
    const r = runOne('wfi', {}, true);
    expect(r.exit).toBe(KVM_EXIT.SHUTDOWN); // the guest went on past its WFI and ran off its end
    expect(r.stats).toMatchObject({ wfi_exit_stat: 1, halt_attempted_poll: 1, halt_successful_poll: 1 });
    // Ended by the device interrupt at the poll's first checks, not by the 50 ms timer.
    expect(r.stats.halt_poll_success_ns as number).toBeLessThan(25_000_000);
    expect(r.injected).toEqual([]); // masked: never taken
  });

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
    expect(r.states.blocked).toBe(0); // waited in guest mode, never in kvm_vcpu_block
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
    const vcpu = new KvmVcpu({ mem, id: 0, sched, guest: new GuestCpu(wfxGuest('wfi')), observer: { injected: () => {}, sample: () => {} } });
    sched.acquire(0);
    expect(() => kvmVcpuRun(vcpu)).toThrow(/WFI on an x86 host/);
  });
});

// The wake path an untrapped WFI shares with x86's native HLT (KvmVcpu.idleInGuest, idle_wait,
// kvmVcpuKickForInterrupt): a device interrupt raised by another thread while this thread really
// blocks in the WFI. The deadline armed 2 s ahead is only a fallback; the guest disarms it after.
function wfiDeviceGuest() {
  const a = new Assembler();
  a.label('entry').rdtsc(1).addi(1, 1, 2e9).wrmsr(MSR_IA32_TSC_DEADLINE, 1).sti().wfi().movi(7, 0).wrmsr(MSR_IA32_TSC_DEADLINE, 7).jmp('end');
  a.label('dev').eoi().iret().handler(DEVICE_VECTOR, 'dev');
  a.label('isr').eoi().iret().handler(LAPIC_TIMER_VECTOR, 'isr');
  a.label('end');
  return a.assemble('wfi-device');
}

async function runWfiWokenByDevice(arm64: Partial<Arm64VmConfig>) {
  const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
  const kvm = mem.record(KVM, 0);
  writeKvmParams(kvm, kvmParamDefaults('6.11', 'arm64'));
  writeArch(kvm, 'arm64', { wfi_trap_policy: 'default', wfe_trap_policy: 'default', direct_injection: false, wfx_rq_threshold: null, ...arm64 });
  const sched = new Scheduler(mem);
  const shared = vcpuRecords(mem, 0);
  const injected: number[] = [];
  const vcpu = new KvmVcpu({ mem, id: 0, sched, guest: new GuestCpu(wfiDeviceGuest()), observer: { injected: (line: number) => injected.push(line), sample: () => {} } });
  const raiser = spawnActor<{ run(): void; snapshot(): { sawWaiting: boolean } }>(new URL('./fixtures/irq-raise-actor.ts', import.meta.url), {
    name: 'raiser',
    sab: mem.sab,
    layout: mem.layout,
    config: { vcpu: 0, waiting: IDLE_WAIT.WFI_IN_GUEST },
  });
  try {
    const raised = raiser.call(Promise.resolve(raiser.api.run()));
    sched.acquire(0);
    const exits: number[] = [];
    for (let i = 0; i < 10 && exits.at(-1) !== KVM_EXIT.SHUTDOWN; i++) exits.push(kvmVcpuRun(vcpu));
    sched.release(0);
    await raised;
    const { sawWaiting } = await raiser.call(Promise.resolve(raiser.api.snapshot()));
    const { stats, exit_reasons, model } = readVcpuStats(mem.record(VCPU_STAT, 0));
    return { exits, sawWaiting, stats, exit_reasons, model, injected };
  } finally {
    await raiser.terminate();
  }
}

describe('an untrapped WFI woken by another thread’s interrupt (the wake path shared with x86 native HLT)', () => {
  it('with GICv4 direct injection: delivered into the waiting vCPU without an exit (posted)', async () => {
    const r = await runWfiWokenByDevice({ direct_injection: true });
    expect(r.exits).toEqual([KVM_EXIT.SHUTDOWN]);
    expect(r.sawWaiting).toBe(true);
    expect(r.model).toMatchObject({ wfi_native: 1, posted_interrupts: 1, device_interrupts_injected: 1, timer_interrupts_injected: 0 });
    expect(r.stats.irq_injections).toBe(0);
    expect(r.exit_reasons).toMatchObject({ IRQ: 0, ESR_ELx_EC_WFx: 0, ESR_ELx_EC_SYS64: 2 });
    expect(r.injected).toEqual([1]);
  });

  it('without it (wfi_trap_policy=notrap): the interrupt ends the WFI with an IRQ exit and is injected at the next entry', async () => {
    const r = await runWfiWokenByDevice({ wfi_trap_policy: 'notrap' });
    expect(r.exits).toEqual([KVM_EXIT.SHUTDOWN]);
    expect(r.sawWaiting).toBe(true);
    expect(r.model).toMatchObject({ wfi_native: 1, posted_interrupts: 0, device_interrupts_injected: 1 });
    expect(r.stats.irq_injections).toBe(1);
    expect(r.exit_reasons).toMatchObject({ IRQ: 1, ESR_ELx_EC_WFx: 0, ESR_ELx_EC_SYS64: 2 });
    expect(r.injected).toEqual([1]);
  });
});
