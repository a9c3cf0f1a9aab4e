import { describe, expect, it } from 'vitest';
import { spawnActor } from '../../src/actors/actor.ts';
import { now } from '../../src/actors/clock.ts';
import { Assembler } from '../../src/guest/assembler.ts';
import { GuestCpu } from '../../src/guest/interpreter.ts';
import type { GuestProgram, SampleChannel } from '../../src/guest/isa.ts';
import { HALTPOLL_DEFAULTS } from '../../src/guest/kernel/haltpoll.ts';
import { waitUntilSet, type GuestIdle, type GuestKernel } from '../../src/guest/kernel/idle.ts';
import { VIRTIO_BLK_VECTOR } from '../../src/guest/kernel/vectors.ts';
import { dsyncIo } from '../../src/guest/workloads/dsync-io.ts';
import { kvmCreateIrqchip, kvmCreateVcpu, kvmEnableCapDisableExits } from '../../src/host/kvm/caps.ts';
import { kvmSetIrqPending, kvmVcpuKickForInterrupt } from '../../src/host/kvm/kick.ts';
import { KvmVcpu } from '../../src/host/kvm/kvm-vcpu.ts';
import { kvmParamDefaults } from '../../src/host/kvm/params.ts';
import { readVcpuStats } from '../../src/host/kvm/stats.ts';
import { KVM_EXIT, KVM_X86_DISABLE_EXITS } from '../../src/host/kvm/uapi.ts';
import { kvmVcpuRun } from '../../src/host/kvm/vcpu.ts';
import { IDLE_WAIT, LINE } from '../../src/host/kvm/vcpu-state.ts';
import { advertisePollControl, KVM, writeArch, writeKvmParams } from '../../src/host/kvm/vm-state.ts';
import { allocateVm } from '../../src/host/layout.ts';
import type { IrqRaiseConfig } from './fixtures/irq-raise-actor.ts';

// The lost wakeup of a "check a flag, then idle" wait loop: the completion interrupt arrives after
// the guest checked its flag (r5, set by the handler) and before its idle instruction. The test's
// thread runs one vCPU (halt_poll_ns = 0) and raises the interrupt itself at exactly that moment:
// the first time the guest is about to execute the instruction after the check, the line becomes
// pending and the vCPU is kicked, as the VMM's I/O thread would (kvm_set_irq + kick). A guest that
// loses the wakeup then blocks with nothing pending and never runs its `done:` path; a worker
// ends each run with the VMM's signal once the vCPU idles (KVM_EXIT_INTR), whatever happened.

interface Case {
  idle: GuestIdle;
  arch: 'x86' | 'arm64';
  disableExits?: number;
  /** What the worker waits for before it signals: the vCPU asleep in KVM, or idle in guest mode. */
  waiting?: number;
}

function raceVcpu(program: GuestProgram, c: Case) {
  const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
  const kvm = mem.record(KVM, 0);
  writeKvmParams(kvm, { ...kvmParamDefaults('6.11', c.arch), halt_poll_ns: 0 });
  if (c.arch === 'arm64') writeArch(kvm, 'arm64', { wfi_trap_policy: 'default', wfe_trap_policy: 'default', direct_injection: false, wfx_rq_threshold: null });
  else {
    advertisePollControl(kvm);
    if (kvmCreateIrqchip(kvm) !== 0) throw new Error('KVM_CREATE_IRQCHIP');
    if (c.disableExits && kvmEnableCapDisableExits(kvm, c.disableExits) !== 0) throw new Error('KVM_CAP_X86_DISABLE_EXITS');
  }
  kvmCreateVcpu(kvm);
  const samples: SampleChannel[] = [];
  const guest = new GuestCpu(program);
  const vcpu = new KvmVcpu({ mem, id: 0, guest, observer: { injected() {}, sample: (ch) => samples.push(ch) } });
  const notifies: number[] = [];
  vcpu.ioBus = (_port, value) => notifies.push(value) > 0; // virtio-blk's queue notify: the test plays the device
  // The instruction right after the wait loop's check of r5 (its first `jnz r5`).
  const check = program.code.findIndex((i) => i.op === 'jnz' && i.rs === 5);
  expect(check).toBeGreaterThanOrEqual(0);
  const afterCheck = check + 1;
  let raised = false;
  const host = vcpu.guestHost;
  const kicked = host.kicked.bind(host);
  host.kicked = () => {
    if (!raised && guest.pc === afterCheck) {
      raised = true;
      kvmSetIrqPending(vcpu, LINE.VIRTIO_BLK, now());
      kvmVcpuKickForInterrupt(vcpu);
    }
    return kicked();
  };
  vcpu.sched.acquire(0);
  return { mem, vcpu, samples, notifies, raised: () => raised };
}

async function runRace(program: GuestProgram, c: Case) {
  const t = raceVcpu(program, c);
  const config: Omit<IrqRaiseConfig, 'vcpu'> = c.waiting === undefined ? { when: 'blocked', action: 'signal' } : { waiting: c.waiting, action: 'signal' };
  const actor = spawnActor<{ run(): void; snapshot(): { sawWaiting: boolean } }>(new URL('./fixtures/irq-raise-actor.ts', import.meta.url), {
    name: 'signaller',
    sab: t.mem.sab,
    layout: t.mem.layout,
    config: { vcpu: 0, ...config },
  });
  try {
    const signalled = actor.call(Promise.resolve(actor.api.run()));
    const exit = kvmVcpuRun(t.vcpu);
    await signalled;
    const reached = (await actor.call(Promise.resolve(actor.api.snapshot()))).sawWaiting;
    const { stats, exit_reasons, model } = readVcpuStats(t.vcpu.stats);
    return { exit, reached, raised: t.raised(), samples: t.samples, notifies: t.notifies.length, stats, exit_reasons, model };
  } finally {
    await actor.terminate();
  }
}

const kernel = (c: Case): GuestKernel => ({ idle: c.idle, arch: c.arch, haltpoll: HALTPOLL_DEFAULTS });

const CASES: [string, Case][] = [
  ['x86 HLT (cli; check; sti; hlt)', { idle: 'halt', arch: 'x86' }],
  ['x86 HLT in guest mode (KVM_X86_DISABLE_EXITS_HLT)', { idle: 'halt', arch: 'x86', disableExits: KVM_X86_DISABLE_EXITS.HLT, waiting: IDLE_WAIT.HLT_IN_GUEST }],
  ['x86 cpuidle-haltpoll (cli; check; cpuidle)', { idle: 'haltpoll', arch: 'x86' }],
  ['x86 MWAIT in guest mode (cli; check; monitor; sti; mwait)', { idle: 'mwait', arch: 'x86', disableExits: KVM_X86_DISABLE_EXITS.MWAIT, waiting: IDLE_WAIT.MWAIT_IN_GUEST }],
  ['arm64 trapped WFI (cli; check; wfi; sti)', { idle: 'halt', arch: 'arm64' }],
];

describe('no lost wakeup: an interrupt between the wait loop’s check and its idle instruction', () => {
  it.each(CASES)('dsync-io, %s: the completion still ends the wait, the guest samples the request and submits the next', async (_name, c) => {
    const r = await runRace(dsyncIo({ kernel: kernel(c) }), c);
    expect(r.raised).toBe(true);
    expect(r.reached).toBe(true); // the vCPU idled again (on the second request), and the signal ended KVM_RUN
    expect(r.exit).toBe(KVM_EXIT.INTR);
    expect(r.stats.irq_injections as number + (r.model.posted_interrupts as number)).toBe(1);
    // Before the fix: the handler ran before the idle instruction, which then idled with nothing
    // pending: no sample, one notify (the first request only).
    expect(r.samples).toEqual(['io_latency']);
    expect(r.notifies).toBe(2);
    if (c.arch === 'arm64') expect(r.exit_reasons.INTERRUPT_WINDOW ?? 0).toBe(0); // taken at the unmask, in guest mode
  });

  it('waitUntilSet alone (x86 HLT): the same race, in a minimal wait loop', async () => {
    const a = new Assembler();
    a.label('entry').movi(5, 0).out(0x10, 5).sti();
    waitUntilSet(a, 5, 'halt', 'x86');
    a.sample('io_latency', 5).out(0x10, 5);
    a.label('park').cli().hlt().jmp('park');
    a.label('isr').movi(5, 1).eoi().iret().handler(VIRTIO_BLK_VECTOR, 'isr');
    const r = await runRace(a.assemble('wait-until-set'), { idle: 'halt', arch: 'x86' });
    expect(r.raised).toBe(true);
    expect(r.samples).toEqual(['io_latency']);
    expect(r.notifies).toBe(2);
    // Exits: the first notify, the kick, the HLT (not blocking: the interrupt pending), the second notify, the parking HLT.
    expect(r.stats.halt_exits).toBe(2);
    expect(r.exit_reasons.INTERRUPT_WINDOW ?? 0).toBe(0);
  });
});
