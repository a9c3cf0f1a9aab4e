import { z } from 'zod';
import { KVM_PARAMS, type KvmParamName } from '../host/kvm/params.ts';
import { knobPath, type Override } from '../scenarios/overrides.ts';
import { intervalKnob, workloadKind } from '../scenarios/interval.ts';
import type { ScenarioInput } from '../scenarios/schema.ts';

/**
 * The demo page's controls, as messages. The shape is checked here; the value
 * as the scenario field it sets (the same rules and messages as a scenario
 * file, naming the field). Host knobs apply to the running VM, as their real
 * counterparts can; guest-side ones (a boot parameter, the guest program's
 * interval) reboot the guest with the new value.
 */

const KVM_PARAM_NAMES = KVM_PARAMS.map((p) => p.name) as [KvmParamName, ...KvmParamName[]];
/** Any value at all, judged later as the field it sets; but there must be one. */
const value = z.unknown().refine((v) => v !== undefined && v !== null, { message: 'a value is required' });

export const ControlSchema = z.discriminatedUnion('kind', [
  /** /sys/module/kvm/parameters/<name>: read by every vCPU at its next halt. */
  z.strictObject({ kind: z.literal('kvm_param'), name: z.enum(KVM_PARAM_NAMES), value }),
  /** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL, value) on the VM. */
  z.strictObject({ kind: z.literal('cap_halt_poll'), value }),
  /** The guest kernel's idle loop (a boot choice: reboots the guest). */
  z.strictObject({ kind: z.literal('guest_idle'), value }),
  /** The workload's interval in µs (timer-latency's delta, the device's gap): reboots the guest. */
  z.strictObject({ kind: z.literal('interval_us'), value }),
  z.strictObject({ kind: z.literal('pause') }),
  z.strictObject({ kind: z.literal('resume') }),
]);
export type Control = z.infer<typeof ControlSchema>;

/** How a control reaches the VM. */
export type Effect = 'live' | 'reboot' | 'pause' | 'resume';

export function effectOf(c: Control): Effect {
  switch (c.kind) {
    case 'kvm_param':
    case 'cap_halt_poll':
      return 'live';
    case 'guest_idle':
    case 'interval_us':
      return 'reboot';
    default:
      return c.kind;
  }
}

/** The scenario overrides a control stands for (none for pause and resume); throws when it has no meaning here. */
export function controlOverrides(c: Control, scenario: ScenarioInput): Override[] {
  const o = (knob: string, value: unknown): Override[] => [{ knob, path: knobPath(knob), value }];
  switch (c.kind) {
    case 'kvm_param':
      return o(c.name, c.value);
    case 'cap_halt_poll':
      return o('kvm_cap_halt_poll', c.value);
    case 'guest_idle':
      return o('idle', c.value);
    case 'interval_us': {
      const knob = intervalKnob(workloadKind(scenario));
      if (!knob) throw new ControlError(`the ${workloadKind(scenario)} workload has no interval`);
      // A number in µs becomes the field's ns; anything else goes as it came, for the schema to refuse.
      return o(knob, typeof c.value === 'number' ? Math.round(c.value * 1000) : c.value);
    }
    default:
      return [];
  }
}

/** A well-formed control that does not apply to this VM. */
export class ControlError extends Error {}

/** A message that is not a control at all: what was wrong with it, in one line. */
export function describeControlError(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.length ? i.path.join('.') : 'message'}: ${i.message}`).join('; ');
}
