import { Command, InvalidArgumentError, Option } from 'commander';
import { KERNEL_PRESETS, KVM_PARAMS } from '../host/kvm/params.ts';
import { intervalKnob } from '../scenarios/interval.ts';
export { workloadKind } from '../scenarios/interval.ts';
import { ScenarioError } from '../scenarios/error.ts';
import { GUEST_IDLE_MODES } from '../scenarios/schema.ts';
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
      ).choices([...GUEST_IDLE_MODES]),
    )
    .option('--cap-halt-poll <ns>', 'enable KVM_CAP_HALT_POLL on the VM with this max (overrides --halt-poll-ns)', number('--cap-halt-poll'));
  for (const p of KVM_PARAMS) {
    cmd.option(`--${kebab(p.name)} <${p.unit}>`, `kvm.${p.name}: ${p.doc} (default ${p.default})`, number(`--${kebab(p.name)}`));
  }
  // One knob=value (or a comma-separated list) per --set: a variadic option would take the scenario name after it as a knob.
  cmd.option(
    '--set <knob=value>',
    'any scenario field, repeatable: --set exit_cost_ns=1000 --set host.sched_slice_ns=1000000 (or --set a=1,b=2); a knob that a flag of its own also sets is an error',
    (v: string, prev: string[] = []) => [...prev, v],
  );
  return cmd;
}

/**
 * The flags as overrides. A flag and a `--set` that reach the same scenario
 * field are refused, naming both: which one should win is the user's call,
 * not a silent precedence rule.
 */
export function overridesFromFlags(workloadKind: string, f: ScenarioFlags): Override[] {
  const flagged: { flag: string; o: Override }[] = [];
  const add = (flag: string, knob: string, value: unknown) => {
    if (value !== undefined) flagged.push({ flag: `${flag} ${String(value)}`, o: { knob, path: knobPath(knob), value } });
  };
  add('--vcpus', 'vcpus', f.vcpus);
  add('--pcpus', 'pcpus', f.pcpus);
  add('--duration', 'duration_s', f.duration);
  add('--kernel', 'kernel', f.kernel);
  add('--cap-halt-poll', 'kvm_cap_halt_poll', f.capHaltPoll);
  add('--guest-idle', 'idle', f.guestIdle);
  if (f.interval !== undefined) {
    const knob = intervalKnob(workloadKind);
    if (!knob) throw new ScenarioError([`--interval: the ${workloadKind} workload has no interval`], '--interval', 'invalid option');
    flagged.push({ flag: `--interval ${f.interval}`, o: { knob, path: knobPath(knob), value: Math.round(f.interval * 1000) } });
  }
  for (const p of KVM_PARAMS) add(`--${kebab(p.name)}`, p.name, f[camel(p.name)]);
  const byField = new Map(flagged.map(({ flag, o }) => [o.path.join('.'), flag]));
  const sets = (f.set ?? []).flatMap((text) => parseOverrides(text));
  const clashes = sets.flatMap((o) => {
    const flag = byField.get(o.path.join('.'));
    return flag ? [`${flag} and --set ${o.knob}=${String(o.value)} both set ${o.path.join('.')}: give one of them`] : [];
  });
  if (clashes.length) throw new ScenarioError(clashes, 'command line', 'invalid option');
  return [...flagged.map((x) => x.o), ...sets];
}
