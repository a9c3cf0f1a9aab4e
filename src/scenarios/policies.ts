import type { Workload } from './schema.ts';
import { parseOverrides, type Override } from './overrides.ts';
import { ScenarioError } from './schema.ts';

/**
 * Named policies for `haltlab compare`: what a vCPU does when its guest idles,
 * as scenario overrides. Anything else can be given as overrides directly
 * (`halt_poll_ns=50000,halt_poll_ns_shrink=0`).
 */
/** `workload`: the only workload the policy applies to, when it is not for all. */
export const POLICIES: Readonly<Record<string, { summary: string; overrides: string; workload?: Workload['kind'] }>> = {
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
  'lazy-tscdeadline': {
    summary: 'PROPOSAL, not merged (x86 PV lazy tscdeadline RFC, 2023): a later deadline only updates a shared page, no MSR exit; the host re-arms at it when the armed one expires',
    overrides: 'lazy_tscdeadline=true',
  },
  'proposal-exit-on-wfx': { summary: 'PROPOSAL (arm64, 2023 request, unmerged): KVM_CAP_EXIT_ON_WFX, a WFI that would block returns KVM_EXIT_WFX to the VMM', overrides: 'arch=arm64,exit_on_wfx=true' },
  apicv: { summary: 'posted interrupts (APICv/AVIC): an interrupt for a vCPU running guest code is taken without a VM exit', overrides: 'apicv=true' },
  'exit-cost-1us': { summary: 'every VM exit and re-entry costs 1 µs of busy time, about what hardware pays (the model’s default is 0)', overrides: 'exit_cost_ns=1000' },
  'poll-1ms': { summary: 'a larger ceiling: halt_poll_ns=1000000', overrides: 'halt_poll_ns=1000000' },
  'ple-off': { summary: 'no PAUSE-loop exiting (kvm_intel ple_gap=0): a spinning vCPU spins until the host preempts it', overrides: 'ple_gap=0' },
  'ple-no-grow': {
    summary: 'PLE with a window that never grows (ple_window_grow=0): every spin loop longer than 4096 cycles exits',
    overrides: 'ple_window_grow=0',
  },
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
  'always-poll-2ms': {
    summary: 'the 2015 RFC as merged in Linux 4.0: every halt polls a fixed 2 ms (halt_poll_ns=2000000, the RFC’s value), no adaptive window',
    overrides: 'kernel=4.0,halt_poll_ns=2000000',
  },
  'bare-metal': { summary: 'dsync-io only: the same write loop on plain host threads, no VM (the floor the halt-polling RFC compares with)', overrides: 'bare_metal=true', workload: 'dsync-io' },
  'iothread-no-poll': { summary: 'the VMM’s I/O thread never busy-polls (QEMU iothread poll-max-ns=0): it sleeps until an eventfd fires', overrides: 'poll_max_ns=0' },
  'hlt-in-guest': {
    summary: 'KVM_CAP_X86_DISABLE_EXITS HLT: the guest halts in guest mode, no exit, no halt polling, the pCPU kept; interrupts are posted',
    overrides: 'disable_exits_hlt=true',
  },
  'guest-mwait': {
    summary: 'the guest idles with MONITOR/MWAIT (intel_idle), intercepted as mainline does: NOP exits, a busy loop through them',
    overrides: 'idle=mwait',
  },
  'mwait-in-guest': {
    summary: 'MWAIT idle with KVM_CAP_X86_DISABLE_EXITS MWAIT: MONITOR/MWAIT run in guest mode, the pCPU kept; a write or an interrupt wakes it',
    overrides: 'idle=mwait,disable_exits_mwait=true',
  },
  'userspace-irqchip': {
    summary: 'no in-kernel irqchip: HLT returns KVM_EXIT_HLT and the VMM waits for the interrupt itself (no halt polling)',
    overrides: 'irqchip=userspace',
  },
  'proposal-exit-hlt': {
    summary: 'PROPOSAL (2023 RFC, unmerged): HLT exits to the VMM (KVM_EXIT_HLT, mp_state HALTED), which re-enters to block in KVM',
    overrides: 'userspace_exit_hlt=true',
  },
  'proposal-exit-mwait': {
    summary: 'PROPOSAL (2023 RFC, unmerged): an intercepted MWAIT exits to the VMM (KVM_EXIT_MWAIT), which re-enters',
    overrides: 'idle=mwait,userspace_exit_mwait=true',
  },
  'proposal-mwait-yield': {
    summary: 'PROPOSAL (2023 RFC, unmerged): an intercepted MWAIT yields the pCPU in its NOP emulation',
    overrides: 'idle=mwait,mwait_yield=true',
  },
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
