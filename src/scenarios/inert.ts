import { HALTPOLL_DEFAULTS } from '../guest/kernel/haltpoll.ts';
import { FIXED_WINDOW_KERNELS, KVM_PARAMS } from '../host/kvm/params.ts';
import { CPUIDLE_DEFAULTS } from '../host/sched/idle-states.ts';
import { AIO_POLL_DEFAULTS } from '../host/vmm/aio-poll.ts';
import type { ScenarioPath } from './overrides.ts';
import { ScenarioSchema, type Scenario } from './schema.ts';

/**
 * Knobs that cannot act in a scenario as configured: set away from their
 * default, yet read by nothing that runs. A run names each in a warning (its
 * results' `warnings`, printed with the table); `compare` refuses a policy
 * whose every knob is one of these, since its column would show run-to-run
 * noise as an effect.
 */

export interface InertKnob {
  /** Where it lives in the scenario. */
  path: ScenarioPath;
  /** Why nothing reads it here. */
  why: string;
}

const workloadDefaults = (kind: Scenario['workload']['kind']) => ScenarioSchema.parse({ workload: { kind } }).workload as Record<string, unknown>;

export function inertKnobs(s: Scenario): InertKnob[] {
  const out: InertKnob[] = [];
  const inert = (path: string[], why: string) => out.push({ path, why });
  const w = s.workload;
  const x86 = s.host.arch === 'x86';
  const bareMetal = w.kind === 'dsync-io' && w.bare_metal;

  // The I/O thread's adaptive polling (QEMU's aio_poll) runs only for the virtio-blk device of a VM.
  for (const k of Object.keys(AIO_POLL_DEFAULTS) as (keyof typeof AIO_POLL_DEFAULTS)[]) {
    if (s.vmm.iothread[k] !== AIO_POLL_DEFAULTS[k] && (w.kind !== 'dsync-io' || bareMetal)) {
      inert(['vmm', 'iothread', k], w.kind === 'dsync-io' ? 'bare metal has no I/O thread' : `only dsync-io's I/O thread polls; the ${w.kind} workload's does not`);
    }
  }
  // The guest's cpuidle-haltpoll governor exists only when the guest loads it.
  for (const k of Object.keys(HALTPOLL_DEFAULTS) as (keyof typeof HALTPOLL_DEFAULTS)[]) {
    if (s.guest.haltpoll[k] !== HALTPOLL_DEFAULTS[k] && s.guest.idle !== 'haltpoll') inert(['guest', 'haltpoll', k], `the guest runs cpuidle-haltpoll only with guest.idle haltpoll (it is ${s.guest.idle})`);
  }
  if (w.kind === 'dsync-io') {
    const d = workloadDefaults('dsync-io');
    if (w.backend === 'synthetic' && w.block_size !== d.block_size) inert(['workload', 'block_size'], 'the synthetic device’s service time does not depend on the bytes written (backend synthetic)');
    if (w.backend === 'file' && w.synthetic_latency_ns !== d.synthetic_latency_ns) inert(['workload', 'synthetic_latency_ns'], 'it is the synthetic device’s service time; the file backend’s is the disk’s (backend file)');
  }
  // pCPU idle states: their latencies are paid only when they are on.
  if (!s.host.cpuidle.enabled) {
    for (const k of Object.keys(CPUIDLE_DEFAULTS) as (keyof typeof CPUIDLE_DEFAULTS)[]) {
      if (k !== 'enabled' && s.host.cpuidle[k] !== CPUIDLE_DEFAULTS[k]) inert(['host', 'cpuidle', k], 'pCPU idle states are off (host.cpuidle.enabled false)');
    }
  }
  // KVM's halt polling: none on bare metal, none when HLT never reaches kvm_vcpu_halt() (x86).
  const setParams = KVM_PARAMS.filter((p) => s.host.kvm[p.name] !== undefined).map((p) => p.name);
  const capSet = s.host.kvm_cap_halt_poll !== null;
  const noHalt = bareMetal
    ? 'bare metal has no VM'
    : x86 && s.host.irqchip === 'userspace'
      ? 'without an in-kernel irqchip HLT exits to the VMM and KVM never halts (host.irqchip userspace)'
      : x86 && s.host.kvm_cap_x86_disable_exits.hlt
        ? 'HLT runs in guest mode and KVM never halts (KVM_X86_DISABLE_EXITS_HLT)'
        : null;
  if (noHalt) {
    for (const k of setParams) inert(['host', 'kvm', k], noHalt);
    if (capSet) inert(['host', 'kvm_cap_halt_poll'], noHalt);
  } else if (FIXED_WINDOW_KERNELS.has(s.host.kernel)) {
    // Linux 4.0 polled halt_poll_ns on every halt: the adaptive window's parameters did not exist.
    for (const k of setParams) if (k !== 'halt_poll_ns') inert(['host', 'kvm', k], `Linux ${s.host.kernel} has no adaptive window (host.kernel ${s.host.kernel})`);
  }
  if (bareMetal && s.guest.idle !== 'halt') inert(['guest', 'idle'], 'bare metal has no guest');
  return out;
}

/** The warning a run prints for an inert knob. */
export const inertWarning = (k: InertKnob): string => `${k.path.join('.')} is set but does nothing here: ${k.why}`;
