import { struct } from '../../actors/shared-memory.ts';

/**
 * The shared part of a KVM vCPU (struct kvm_vcpu and its LAPIC), as one record
 * per vCPU. Other threads (the host's hrtimers, the VMM, later I/O threads)
 * touch a vCPU only through these words and the functions in kick.ts and
 * lapic-timer.ts.
 */

/** vcpu->mode (include/linux/kvm_host.h). */
export const MODE = { OUTSIDE_GUEST_MODE: 0, IN_GUEST_MODE: 1, EXITING_GUEST_MODE: 2 } as const;

/** The architectural run state the halt path moves between (KVM_MP_STATE_*). */
export const MP_STATE = { RUNNABLE: 0, HALTED: 1 } as const;

/**
 * Who owns the armed TSC-deadline timer: the vCPU's own pCPU (VMX preemption
 * timer while in guest mode, or the local hrtimer while polling), or the host's
 * hrtimer interrupt once the vCPU thread sleeps (kvm_lapic_switch_to_sw_timer).
 */
export const TIMER = { DISARMED: 0, ON_VCPU: 1, ON_HOST: 2 } as const;

/** What a vCPU thread (or an I/O thread: VMM, BLOCKED) is doing, for timelines and the live view (not a KVM field); see thread-state.ts. */
export const RUN_STATE = { STARTING: 0, GUEST: 1, HOST: 2, POLLING: 3, BLOCKED: 4, RUNNABLE: 5, VMM: 6, STOPPED: 7 } as const;
export const RUN_STATE_NAMES = ['starting', 'guest', 'host', 'polling', 'blocked', 'runnable', 'vmm', 'stopped'] as const;

/** Interrupt lines of the modelled LAPIC; each has its vector and its own "pending since" stamp. */
export const IRQ_LINES = 8;
export const LINE = { LAPIC_TIMER: 0, DEVICE0: 1, VIRTIO_BLK: 2 } as const;
export const LINE_VECTOR = [0xef, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36] as const;

/**
 * vcpu->wait and the state of the task on it. A waker wakes (and counts
 * halt_wakeup) only by moving the task from TASK_INTERRUPTIBLE to running, as
 * wake_up_process() returns true only for a task that was sleeping.
 */
export const RCUWAIT = {
  NONE: 0, // no task registered (not in kvm_vcpu_block)
  INTERRUPTIBLE: 1, // set_current_state(TASK_INTERRUPTIBLE): about to check and sleep
  RUNNING: 2, // registered but running: before the first check, or already woken
} as const;

export const VCPU_BLOCK = struct(
  [
    'mode', // vcpu->mode
    'kick', // futex word the blocked vCPU waits on (its rcuwait)
    'rcuwait', // RCUWAIT.*: the task registered on the vCPU's wait, and its state
    'irr', // pending interrupt lines, one bit each
    'signal_pending', // the VMM's kick signal (SIG_IPI / SIGRTMIN) is pending on the vCPU thread
    'immediate_exit', // kvm_run->immediate_exit
    'timer_mode', // TIMER.*
    'mp_state', // MP_STATE.*
    'resample', // bumped (and notified) when the guest EOIs a line with an irqfd resampler
    'poll_control', // MSR_KVM_POLL_CONTROL bit 0: host halt polling allowed (kvm_arch_no_poll when 0)
    'in_spin_loop', // vcpu->spin_loop.in_spin_loop: inside kvm_vcpu_on_spin()
    'dy_eligible', // vcpu->spin_loop.dy_eligible: toggled by other spinners (kvm_vcpu_eligible_for_directed_yield)
  ],
  [
    'tsc_deadline', // the armed MSR_IA32_TSC_DEADLINE, guest TSC = ns on the shared clock
    ['pending_since', IRQ_LINES], // when each line became pending: the start of a wake-latency sample
    'halt_poll_ns', // vcpu->halt_poll_ns
    'ple_window', // vmx->ple_window, cycles (= ns on the 1 GHz TSC)
  ],
);
export const V = VCPU_BLOCK.i32.index;
export const VF = VCPU_BLOCK.f64.index;
