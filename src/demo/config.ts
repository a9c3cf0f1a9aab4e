import { KVM_PARAMS, kvmParamDefaults } from '../host/kvm/params.ts';
import { intervalKnob } from '../scenarios/interval.ts';
import type { Scenario } from '../scenarios/schema.ts';

/** What the demo's VM runs with, as the page and the session summary show it: the knobs its controls change. */
export interface DemoConfig {
  scenario: string;
  workload: string;
  vcpus: number;
  pcpus: number;
  kvm: Record<string, number>;
  kvm_cap_halt_poll: number | null;
  guest_idle: string;
  /** The workload's interval in µs, or null when it has none. */
  interval_us: number | null;
}

export function demoConfig(s: Scenario): DemoConfig {
  const w = s.workload as { kind: string } & Record<string, unknown>;
  const knob = intervalKnob(w.kind);
  // The kvm parameters the vCPUs read: the scenario's, else the kernel's and architecture's defaults.
  const defaults = kvmParamDefaults(s.host.kernel, s.host.arch);
  return {
    scenario: s.name,
    workload: w.kind,
    vcpus: s.vm.vcpus,
    pcpus: s.host.pcpus,
    kvm: Object.fromEntries(KVM_PARAMS.map((p) => [p.name, s.host.kvm[p.name] ?? defaults[p.name]])),
    kvm_cap_halt_poll: s.host.kvm_cap_halt_poll,
    guest_idle: s.guest.idle,
    interval_us: knob ? Number(w[knob]) / 1000 : null,
  };
}
