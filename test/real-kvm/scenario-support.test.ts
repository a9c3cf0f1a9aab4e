import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { kvmHaltPollCap, kvmRefusals } from '../../src/real-kvm/scenario-support.ts';
import { availableParallelism } from 'node:os';

// What --backend kvm refuses before anything starts: every knob real KVM cannot apply is named,
// with why; what a VMM can set (halt_poll_ns per VM) and the workload's own knobs are accepted.

const host = {
  module_params: {
    halt_poll_ns: { value: '200000', writable: false },
    halt_poll_ns_grow: { value: '2', writable: false },
    halt_poll_ns_grow_start: { value: '10000', writable: false },
    halt_poll_ns_shrink: { value: '2', writable: false },
  },
};
const refused = (input: object) => kvmRefusals(parseScenario(input), host);

describe('--backend kvm: which scenarios and knobs real KVM can apply', () => {
  it('accepts the three scenarios with their own knobs, vCPUs, duration and halt_poll_ns', () => {
    expect(refused({ workload: { kind: 'timer-latency', delta_ns: 170_000 }, vm: { vcpus: 1 }, duration_s: 2 })).toEqual([]);
    expect(refused({ workload: { kind: 'irq-wake', gap_ns: 100_000, jitter: 0.2, seed: 3 }, host: { kvm: { halt_poll_ns: 0 } } })).toEqual([]);
    expect(refused({ workload: { kind: 'idle-tick', tick_ns: 4_000_000 }, host: { kvm_cap_halt_poll: 1_000_000 } })).toEqual([]);
    expect(refused({ workload: { kind: 'mixed' } })).toEqual([]);
  });

  it('refuses a workload it cannot run, naming the field and the ones it can', () => {
    expect(refused({ workload: { kind: 'dsync-io' } })).toEqual([expect.stringMatching(/^workload\.kind: dsync-io runs on the model only; .*timer-latency, irq-wake, idle-tick, mixed/)]);
  });

  it('refuses each knob it cannot apply, with why', () => {
    const r = refused({
      workload: { kind: 'irq-wake' },
      host: { exit_cost_ns: 1000, apicv: true, proposals: { lazy_tscdeadline: true }, kvm_intel: { ple_gap: 0 }, kernel: '6.10', cpuidle: { enabled: true } },
      guest: { idle: 'poll' },
    });
    const fields = r.map((x) => x.split(':')[0]).sort();
    expect(fields).toEqual(['guest.idle', 'host.apicv', 'host.cpuidle.enabled', 'host.exit_cost_ns', 'host.kernel', 'host.kvm_intel.ple_gap', 'host.proposals.lazy_tscdeadline']);
    expect(r.find((x) => x.startsWith('host.proposals'))).toMatch(/unmerged proposal/);
    expect(r.find((x) => x.startsWith('host.exit_cost_ns'))).toMatch(/modelled cost/);
  });

  it('accepts a module parameter at the value the host has, and refuses any other (a VMM cannot set it)', () => {
    expect(refused({ workload: { kind: 'irq-wake' }, host: { kvm: { halt_poll_ns_grow: 2 } } })).toEqual([]);
    expect(refused({ workload: { kind: 'irq-wake' }, host: { kvm: { halt_poll_ns_shrink: 0 } } })).toEqual([
      'host.kvm.halt_poll_ns_shrink: 0; a kvm module parameter (here 2, read-only): a VMM cannot set it per VM (only halt_poll_ns, through KVM_CAP_HALT_POLL)',
    ]);
  });

  it('refuses pCPUs other than the machine’s and vCPUs beyond the IOAPIC pins it has', () => {
    const other = availableParallelism() + 1;
    expect(refused({ workload: { kind: 'irq-wake' }, host: { pcpus: other } })).toEqual([expect.stringContaining(`host.pcpus: ${other}; real KVM runs on this machine's`)]);
    expect(refused({ workload: { kind: 'irq-wake' }, vm: { vcpus: 9 } })).toEqual([expect.stringContaining('vm.vcpus: 9')]);
  });

  it('sets KVM_CAP_HALT_POLL from the cap if given, else from halt_poll_ns, else leaves the module’s', () => {
    expect(kvmHaltPollCap(parseScenario({}))).toBeNull();
    expect(kvmHaltPollCap(parseScenario({ host: { kvm: { halt_poll_ns: 0 } } }))).toBe(0);
    expect(kvmHaltPollCap(parseScenario({ host: { kvm: { halt_poll_ns: 0 }, kvm_cap_halt_poll: 50_000 } }))).toBe(50_000);
  });
});
