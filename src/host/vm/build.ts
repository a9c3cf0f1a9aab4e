import type { SharedMemory } from '../../actors/shared-memory.ts';
import type { Scenario } from '../../scenarios/schema.ts';
import { TraceCollector } from '../../trace/collector.ts';
import { iothreadsOf, workloadModule } from '../../workloads/index.ts';
import { actorSlots, type ActorSlots } from '../actor-slots.ts';
import { kvmCreateIrqchip, kvmCreateVcpu, kvmEnableCapDisableExits, kvmEnableCapUserspaceExits } from '../kvm/caps.ts';
import { FIXED_WINDOW_KERNELS, kvmParamDefaults } from '../kvm/params.ts';
import { KVM_X86_DISABLE_EXITS, KVM_X86_USERSPACE_EXIT } from '../kvm/uapi.ts';
import { advertiseLazyTscdeadline, advertisePollControl, enableCapHaltPoll, KVM, setFixedHaltPollWindow, setHostHardware, writeArch, writeKvmParams, type KvmRecord } from '../kvm/vm-state.ts';
import { allocateVm } from '../layout.ts';
import { Scheduler } from '../sched/scheduler.ts';

/**
 * Building a VM from a scenario, before any thread runs: its shared memory,
 * the host's parameters (kvm, cpuidle), and what a VMM does between
 * KVM_CREATE_VM and its vCPU threads (the irqchip, the caps, the workload's
 * devices, KVM_CREATE_VCPU).
 */

export interface VmBuildOptions {
  /** Record a trace (each thread into its own shared ring); write it with writeTrace() after run(). */
  trace?: boolean;
  /** Instead of a whole trace, keep each thread's last N events (lastEvents()). */
  flightRecorder?: number;
}

export interface BuiltVm {
  readonly scenario: Scenario;
  readonly mem: SharedMemory;
  readonly slots: ActorSlots;
  readonly iothreads: number;
  readonly collector: TraceCollector | null;
  /** The 2023 proposal's kvm_run->userspace_exits every vCPU thread sets before KVM_RUN. */
  readonly userspaceExits: number;
}

/** A VM ioctl that failed: its name and KVM's errno, as a VMM would report it. */
export class KvmIoctlError extends Error {
  constructor(
    readonly ioctl: string,
    readonly errno: number,
  ) {
    super(`${ioctl} failed: ${errno}`);
    this.name = 'KvmIoctlError';
  }
}

function ioctl(name: string, r: number): void {
  if (r < 0) throw new KvmIoctlError(name, r);
}

export function buildVm(scenario: Scenario, opts: VmBuildOptions = {}): BuiltVm {
  const { vm, host, workload } = scenario;
  const module = workloadModule(workload);
  const iothreads = iothreadsOf(workload);
  const slots = actorSlots(vm.vcpus, iothreads);
  const recording = opts.trace === true || (opts.flightRecorder ?? 0) > 0;
  const mem = allocateVm({ vcpus: vm.vcpus, pcpus: host.pcpus, actors: slots.count, iothreads, trace: recording });
  const collector = recording ? new TraceCollector(mem, slots.count, undefined, opts.trace ? 0 : opts.flightRecorder) : null;
  const kvm = mem.record(KVM, 0);
  writeKvmParams(kvm, { ...kvmParamDefaults(host.kernel, host.arch), ...host.kvm });
  if (FIXED_WINDOW_KERNELS.has(host.kernel)) setFixedHaltPollWindow(kvm);
  setHostHardware(kvm, { exit_cost_ns: host.exit_cost_ns, apicv: host.apicv, lapic_timer_advance: host.lapic_timer_advance });
  // A simulator's exit on idle is the arm64 request itself; on x86 its analogue is the RFC's HLT exit (setUpVm).
  const exitOnIdle = module.exitOnIdle?.(workload) ?? false;
  writeArch(kvm, host.arch, { ...host.arm64, exit_on_wfx: host.arm64.exit_on_wfx || (host.arch === 'arm64' && exitOnIdle) });
  Scheduler.setCpuidle(mem, host.cpuidle);
  if (host.kvm_cap_halt_poll !== null) enableCapHaltPoll(kvm, host.kvm_cap_halt_poll);
  if (host.arch === 'x86') advertisePollControl(kvm);
  if (host.proposals.lazy_tscdeadline) advertiseLazyTscdeadline(kvm);
  module.setUpVm?.(kvm, workload, vm.vcpus);
  const userspaceExits = setUpVm(kvm, scenario, host.arch === 'x86' && exitOnIdle);
  return { scenario, mem, slots, iothreads, collector, userspaceExits };
}

/**
 * What a VMM does between KVM_CREATE_VM and its vCPU threads, in KVM's order:
 * the irqchip and the VM caps, then KVM_CREATE_VCPU for each vCPU. Returns
 * the kvm_run->userspace_exits the vCPU threads set (the 2023 proposal).
 */
function setUpVm(kvm: KvmRecord, { host, vm }: Scenario, exitOnHlt: boolean): number {
  if (host.irqchip === 'kernel') ioctl('KVM_CREATE_IRQCHIP', kvmCreateIrqchip(kvm));
  const d = host.kvm_cap_x86_disable_exits;
  const mask = (d.hlt ? KVM_X86_DISABLE_EXITS.HLT : 0) | (d.mwait ? KVM_X86_DISABLE_EXITS.MWAIT : 0) | (d.pause ? KVM_X86_DISABLE_EXITS.PAUSE : 0);
  if (mask) ioctl('KVM_ENABLE_CAP(KVM_CAP_X86_DISABLE_EXITS)', kvmEnableCapDisableExits(kvm, mask));
  // The simulator's exit on WFI is the same ask as the x86 RFC's HLT exit: return to userspace
  // whenever the vCPU would otherwise block (seeds/001), which is what that bit does here.
  const u = { ...host.proposals.userspace_exit, hlt: host.proposals.userspace_exit.hlt || exitOnHlt };
  if (u.hlt || u.mwait || u.mwait_yield) ioctl('KVM_ENABLE_CAP(KVM_CAP_X86_USERSPACE_EXITS)', kvmEnableCapUserspaceExits(kvm, { mwait_yield: u.mwait_yield }));
  for (let i = 0; i < vm.vcpus; i++) kvmCreateVcpu(kvm);
  return (u.hlt ? KVM_X86_USERSPACE_EXIT.HLT : 0) | (u.mwait ? KVM_X86_USERSPACE_EXIT.MWAIT : 0);
}
