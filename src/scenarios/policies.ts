import { parseOverrides, type Override } from './overrides.ts';
import { ScenarioError } from './schema.ts';

/**
 * Named policies for `haltlab compare`: what a vCPU does when its guest idles,
 * as scenario overrides. Anything else can be given as overrides directly
 * (`halt_poll_ns=50000,halt_poll_ns_shrink=0`).
 */
export const POLICIES: Readonly<Record<string, { summary: string; overrides: string }>> = {
  poll: {
    summary: 'mainline x86 defaults: halt polling (halt_poll_ns=200000, grow 2, grow_start 10000, shrink 2, Linux >= 6.11) and PLE (ple_gap 128, ple_window 4096, grow 2, shrink 0)',
    overrides: '',
  },
  'no-poll': { summary: 'no halt polling: every halt sleeps (halt_poll_ns=0)', overrides: 'halt_poll_ns=0' },
  'poll-pre-6.11': { summary: 'halt polling with the old shrink=0: one long block resets the window to 0', overrides: 'kernel=6.10' },
  'cap-off': { summary: 'KVM_CAP_HALT_POLL=0: polling disabled for this VM whatever halt_poll_ns says', overrides: 'kvm_cap_halt_poll=0' },
  'guest-idle-poll': {
    summary: 'the guest boots with idle=poll: its idle loop spins with PAUSE and never halts (a full core per vCPU; PLE exits until the vCPU’s window outgrows its idle periods)',
    overrides: 'idle=poll',
  },
  'guest-haltpoll': {
    summary: 'the guest loads cpuidle-haltpoll: it polls in guest mode (adaptive, 200 µs max) before HLT, and turns host polling off',
    overrides: 'idle=haltpoll',
  },
  'poll-1ms': { summary: 'a larger ceiling: halt_poll_ns=1000000', overrides: 'halt_poll_ns=1000000' },
  'ple-off': { summary: 'no PAUSE-loop exiting (kvm_intel ple_gap=0): a spinning vCPU spins until the host preempts it', overrides: 'ple_gap=0' },
  'ple-no-grow': {
    summary: 'PLE with a window that never grows (ple_window_grow=0): every spin loop longer than 4096 cycles exits',
    overrides: 'ple_window_grow=0',
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
