import { availableParallelism } from 'node:os';
import { parseScenario, type Scenario } from '../scenarios/schema.ts';
import { MAX_KVM_VCPUS } from './kvm-vm.ts';
import { KVM_HALT_POLL_PARAMS, type HostKvm } from './host-kvm.ts';

/**
 * Which scenarios real KVM can run here, and what each knob becomes on it. A knob real KVM cannot
 * apply is refused before any thread starts, naming the knob and why: never silently ignored.
 * What it can apply: the workload's own knobs, vCPUs, the duration, and halt-polling's ceiling,
 * through KVM_ENABLE_CAP(KVM_CAP_HALT_POLL) on the VM, which is what a VMM can set (it replaces
 * the module's halt_poll_ns for this VM: kvm->max_halt_poll_ns, virt/kvm/kvm_main.c).
 */

export const KVM_WORKLOADS = ['timer-latency', 'irq-wake', 'idle-tick', 'mixed'] as const;
export type KvmWorkloadKind = (typeof KVM_WORKLOADS)[number];

/** Why a part of the scenario cannot act on real KVM, by path prefix (first match wins). */
const REFUSED: [string, string][] = [
  ['host.arch', 'arm64 needs an arm64 host; this is x86-64 KVM'],
  ['host.arm64', 'an arm64 setting; this is x86-64 KVM'],
  ['host.proposals', 'an unmerged proposal: mainline KVM does not have it (the model does)'],
  ['host.kernel', "a kernel-version preset of the model; real KVM is this host's kernel"],
  ['host.exit_cost_ns', "a modelled cost; real KVM pays its own exits' cost"],
  ['host.apicv', "posted interrupts are the host's hardware (kvm_intel enable_apicv, kvm_amd avic), not a per-VM setting"],
  ['host.lapic_timer_advance', 'kvm.lapic_timer_advance is a module parameter, fixed at load'],
  ['host.cpuidle', "the model's pCPU idle states; real KVM runs on the host's own cpuidle"],
  ['host.sched_slice_ns', "the model's scheduler; real KVM runs under the host's"],
  ['host.kvm_intel', "kvm_intel's PAUSE-loop exiting parameters: module parameters, fixed at load"],
  ['host.irqchip', "the kvm backend's VM has KVM's in-kernel irqchip: HLT is handled in KVM"],
  ['host.kvm_cap_x86_disable_exits', "the kvm backend's guest idles through KVM's halt path (HLT exits)"],
  ['guest.idle', "the kvm backend's guest idles with HLT only"],
  ['guest.haltpoll', "the guest's cpuidle-haltpoll: the kvm backend's guest has none"],
  ['vmm.iothread', "QEMU's I/O-thread polling: the kvm backend's device thread sleeps in poll(2)"],
];

function leaves(v: unknown, path: string[] = []): [string, unknown][] {
  if (v && typeof v === 'object' && !Array.isArray(v)) return Object.entries(v).flatMap(([k, x]) => leaves(x, [...path, k]));
  return [[path.join('.'), v]];
}

/**
 * The scenario's knobs that real KVM cannot apply, each as "field: why" (empty: it can run).
 * `host` gives the module parameters as this host has them: equal values are not a change.
 */
export function kvmRefusals(s: Scenario, host: Pick<HostKvm, 'module_params'>): string[] {
  const w = s.workload.kind;
  if (!(KVM_WORKLOADS as readonly string[]).includes(w)) {
    return [`workload.kind: ${w} runs on the model only; the kvm backend runs ${KVM_WORKLOADS.join(', ')}`];
  }
  const out: string[] = [];
  if (s.vm.vcpus > MAX_KVM_VCPUS) out.push(`vm.vcpus: ${s.vm.vcpus}; the kvm backend's guest gives each vCPU an IOAPIC pin from 16 up: at most ${MAX_KVM_VCPUS}`);
  const defaults = new Map(leaves(parseScenario({ workload: { kind: w } })));
  for (const [path, value] of leaves(s)) {
    if (path === 'name' || path === 'duration_s' || path === 'vm.vcpus' || path.startsWith('workload.')) continue;
    if (path === 'host.kvm_cap_halt_poll' || path === 'host.kvm.halt_poll_ns') continue; // KVM_CAP_HALT_POLL
    if (value === defaults.get(path)) continue;
    if (path === 'host.pcpus') {
      if (value !== availableParallelism()) out.push(`host.pcpus: ${value}; real KVM runs on this machine's ${availableParallelism()} CPUs`);
      continue;
    }
    const param = (KVM_HALT_POLL_PARAMS as readonly string[]).find((p) => path === `host.kvm.${p}`);
    if (param) {
      const mp = host.module_params[param];
      if (mp && Number(mp.value) === value) continue; // what the host has already
      out.push(
        `${path}: ${value}; a kvm module parameter${mp ? ` (here ${mp.value}${mp.writable ? '' : ', read-only'})` : ''}: a VMM cannot set it per VM (only halt_poll_ns, through KVM_CAP_HALT_POLL)`,
      );
      continue;
    }
    const why = REFUSED.find(([prefix]) => path === prefix || path.startsWith(`${prefix}.`))?.[1] ?? 'not applied by the kvm backend';
    out.push(`${path}: ${JSON.stringify(value)}; ${why}`);
  }
  return out;
}

/** KVM_CAP_HALT_POLL for the VM: the cap if the scenario enables it, else halt_poll_ns if set, else none (the module's). */
export function kvmHaltPollCap(s: Scenario): number | null {
  return s.host.kvm_cap_halt_poll ?? s.host.kvm.halt_poll_ns ?? null;
}
