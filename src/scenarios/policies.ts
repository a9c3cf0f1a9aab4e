import { parseOverrides, type Override } from './overrides.ts';
import { ScenarioError } from './schema.ts';

/**
 * Named policies for `haltlab compare`: what a vCPU does when its guest idles,
 * as scenario overrides. Anything else can be given as overrides directly
 * (`halt_poll_ns=50000,halt_poll_ns_shrink=0`).
 */
export const POLICIES: Readonly<Record<string, { summary: string; overrides: string }>> = {
  poll: { summary: 'mainline x86 halt polling: halt_poll_ns=200000, grow 2, grow_start 10000, shrink 2 (Linux >= 6.11)', overrides: '' },
  'no-poll': { summary: 'no halt polling: every halt sleeps (halt_poll_ns=0)', overrides: 'halt_poll_ns=0' },
  'poll-pre-6.11': { summary: 'halt polling with the old shrink=0: one long block resets the window to 0', overrides: 'kernel=6.10' },
  'cap-off': { summary: 'KVM_CAP_HALT_POLL=0: polling disabled for this VM whatever halt_poll_ns says', overrides: 'kvm_cap_halt_poll=0' },
  'guest-idle-poll': {
    summary: 'the guest boots with idle=poll: its idle loop spins and never halts (no exits while idle, a full core per vCPU)',
    overrides: 'idle=poll',
  },
  'guest-haltpoll': {
    summary: 'the guest loads cpuidle-haltpoll: it polls in guest mode (adaptive, 200 µs max) before HLT, and turns host polling off',
    overrides: 'idle=haltpoll',
  },
  'poll-1ms': { summary: 'a larger ceiling: halt_poll_ns=1000000', overrides: 'halt_poll_ns=1000000' },
  'wfx-default': {
    summary: 'arm64 mainline with no kvm-arm.wfi_trap_policy or wfe_trap_policy: WFE untrapped when alone on the runqueue, WFI trapped (no GICv4 direct injection)',
    overrides: 'arch=arm64',
  },
  'wfx-trap': { summary: 'arm64 kvm-arm.wfi_trap_policy=trap kvm-arm.wfe_trap_policy=trap: every WFI halts in KVM, every WFE yields', overrides: 'arch=arm64,wfi_trap_policy=trap,wfe_trap_policy=trap' },
  'wfx-notrap': {
    summary: 'arm64 kvm-arm.wfi_trap_policy=notrap kvm-arm.wfe_trap_policy=notrap: WFI/WFE wait in the guest, the vCPU keeps its pCPU',
    overrides: 'arch=arm64,wfi_trap_policy=notrap,wfe_trap_policy=notrap',
  },
  'wfx-rq-threshold': {
    summary: 'PROPOSAL (2024, not merged): arm64 WFI/WFE trapped iff the pCPU’s runqueue has more than 1 task (KVM_CAP_ARM_WFX_TRAP_RUNQUEUE_DEPTH)',
    overrides: 'arch=arm64,wfx_rq_threshold=1',
  },
  'iothread-no-poll': { summary: 'the VMM’s I/O thread never busy-polls (QEMU iothread poll-max-ns=0): it sleeps until an eventfd fires', overrides: 'poll_max_ns=0' },
};

export interface Policy {
  label: string;
  overrides: Override[];
}

/** A policy name, or overrides written knob=value[,knob=value]. */
export function parsePolicy(text: string): Policy {
  const named = POLICIES[text];
  if (named) return { label: text, overrides: parseOverrides(named.overrides) };
  if (!text.includes('=')) {
    throw new ScenarioError([`unknown policy "${text}": expected one of ${Object.keys(POLICIES).join(', ')}, or overrides such as halt_poll_ns=0`], 'command line', 'invalid policy');
  }
  return { label: text, overrides: parseOverrides(text) };
}
