import { Command, InvalidArgumentError, Option } from 'commander';
import { KERNEL_PRESETS, KVM_PARAMS } from '../host/kvm/params.ts';
import { intervalKnob } from '../scenarios/interval.ts';
export { workloadKind } from '../scenarios/interval.ts';
import { ScenarioError } from '../scenarios/error.ts';
import { parseOverrides, type Override, knobPath } from '../scenarios/overrides.ts';

/** The options every command that runs a scenario takes, and how they become scenario overrides. */

export function number(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\s*-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value) || !Number.isFinite(n)) {
      throw new InvalidArgumentError(`${name} takes a number, got "${value}"`);
    }
    return n;
  };
}

const kebab = (s: string) => s.replaceAll('_', '-');
const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export interface ScenarioFlags {
  vcpus?: number;
  pcpus?: number;
  duration?: number;
  interval?: number;
  kernel?: string;
  capHaltPoll?: number;
  guestIdle?: string;
  set?: string[];
  [param: string]: unknown;
}

export function addScenarioOptions(cmd: Command): Command {
  cmd
    .option('--vcpus <n>', 'vCPUs in the VM (one thread each)', number('--vcpus'))
    .option('--pcpus <n>', 'pCPUs the host scheduler owns', number('--pcpus'))
    .option('--duration <seconds>', 'how long to run', number('--duration'))
    .option('--interval <us>', 'the workload’s interval in µs: timer-latency’s (and overcommit’s) re-arm delta, hrtimer-rearm’s event interval, the device’s mean gap after each EOI (irq-wake, mixed), idle-tick’s tick', number('--interval'))
    .addOption(new Option('--kernel <version>', 'host kernel whose kvm halt polling applies: 6.11, 6.10 (shrink 0), 4.0 (no adaptive window: every halt polls halt_poll_ns)').choices(Object.keys(KERNEL_PRESETS)))
    .addOption(
      new Option(
        '--guest-idle <mode>',
        'the guest kernel’s idle loop: halt (default_idle), poll (idle=poll: spin, never HLT), haltpoll (cpuidle-haltpoll: poll in the guest, then HLT), mwait (intel_idle: MONITOR/MWAIT)',
      ).choices(['halt', 'poll', 'haltpoll', 'mwait']),
    )
    .option('--cap-halt-poll <ns>', 'enable KVM_CAP_HALT_POLL on the VM with this max (overrides --halt-poll-ns)', number('--cap-halt-poll'));
  for (const p of KVM_PARAMS) {
    cmd.option(`--${kebab(p.name)} <${p.unit}>`, `kvm.${p.name}: ${p.doc} (default ${p.default})`, number(`--${kebab(p.name)}`));
  }
  cmd.option('--set <knob=value...>', 'any scenario field, e.g. --set jitter=0.2 host.sched_slice_ns=1000000', (v: string, prev: string[] = []) => [...prev, v]);
  return cmd;
}

/** What --interval sets, per workload (the device's gap for the others). */
/** The flags as overrides, in the order a later one wins. */
export function overridesFromFlags(workloadKind: string, f: ScenarioFlags): Override[] {
  const out: Override[] = [];
  const add = (knob: string, value: unknown) => value !== undefined && out.push({ knob, path: knobPath(knob), value });
  add('vcpus', f.vcpus);
  add('pcpus', f.pcpus);
  add('duration_s', f.duration);
  add('kernel', f.kernel);
  add('kvm_cap_halt_poll', f.capHaltPoll);
  add('idle', f.guestIdle);
  if (f.interval !== undefined) {
    const knob = intervalKnob(workloadKind);
    if (!knob) throw new ScenarioError([`--interval: the ${workloadKind} workload has no interval`], '--interval', 'invalid option');
    add(knob, Math.round(f.interval * 1000));
  }
  for (const p of KVM_PARAMS) add(p.name, f[camel(p.name)]);
  for (const s of f.set ?? []) out.push(...parseOverrides(s));
  return out;
}

