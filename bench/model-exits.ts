import { Assembler } from '../src/guest/assembler.ts';
import { GuestCpu } from '../src/guest/interpreter.ts';
import { MSR_IA32_TSC_DEADLINE } from '../src/guest/isa.ts';
import { kvmCreateIrqchip, kvmCreateVcpu } from '../src/host/kvm/caps.ts';
import { kvmParamDefaults } from '../src/host/kvm/params.ts';
import { readVcpuStats } from '../src/host/kvm/stats.ts';
import { KvmVcpu } from '../src/host/kvm/kvm-vcpu.ts';
import { KVM_EXIT } from '../src/host/kvm/uapi.ts';
import { kvmVcpuRun } from '../src/host/kvm/vcpu.ts';
import { KVM, setHostHardware, writeKvmParams } from '../src/host/kvm/vm-state.ts';
import { allocateVm } from '../src/host/layout.ts';
import { now } from '../src/actors/clock.ts';

/**
 * The model's exit rate on one vCPU: a guest that writes MSR_IA32_TSC_DEADLINE in a loop (a far
 * deadline, so the timer never fires), each write a VM exit handled in "KVM" (MSR_WRITE) and
 * re-entered, KVM_RUN called on this thread as a vCPU actor calls it. Exits per second of wall time.
 */

const FAR_NS = 1e12;

function msrWriteLoop(iterations: number): { vcpu: KvmVcpu; exits(): number } {
  const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
  const kvm = mem.record(KVM, 0);
  writeKvmParams(kvm, kvmParamDefaults());
  setHostHardware(kvm, { exit_cost_ns: 0, apicv: false, lapic_timer_advance: false });
  kvmCreateIrqchip(kvm);
  kvmCreateVcpu(kvm);
  const a = new Assembler();
  a.label('entry').movi(2, iterations).label('loop').rdtsc(1).addi(1, 1, FAR_NS).wrmsr(MSR_IA32_TSC_DEADLINE, 1).addi(2, 2, -1).jnz(2, 'loop');
  // As test/host/fixtures/one-vcpu.ts builds one vCPU on the calling thread.
  const vcpu = new KvmVcpu({ mem, id: 0, guest: new GuestCpu(a.assemble('msr-write-loop')) });
  vcpu.sched.acquire(0);
  return { vcpu, exits: () => readVcpuStats(vcpu.stats).stats.exits as number };
}

/** Exits per second over `iterations` MSR writes (after a warm-up run that lets the JIT settle). */
export function measureModelExits(iterations: number): { exits: number; seconds: number; exits_per_s: number } {
  for (const n of [iterations / 10, iterations]) {
    const v = msrWriteLoop(Math.max(1, Math.round(n)));
    const t0 = now();
    for (let runs = 0; kvmVcpuRun(v.vcpu) !== KVM_EXIT.SHUTDOWN; runs++) if (runs > 1e7) throw new Error('the MSR-write loop did not end');
    const seconds = (now() - t0) / 1e9;
    if (n === iterations) return { exits: v.exits(), seconds, exits_per_s: v.exits() / seconds };
  }
  throw new Error('unreachable');
}
