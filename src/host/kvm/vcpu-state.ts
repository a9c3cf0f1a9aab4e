import { region, struct, type RecordOf } from '../../actors/shared-memory.ts';

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
 * timer while in guest mode, or the local hrtimer while polling), or, once the
 * vCPU thread sleeps (kvm_lapic_switch_to_sw_timer), the hrtimer: ON_SLEEPER
 * when the sleeping thread's own timed wait stands for it (its expiry wakes
 * the task once, as the pinned hrtimer's interrupt does), ON_HOST when the
 * host actor fires it (the lazy proposal's re-arm, the VMM's halt wait).
 * HOST_FIRING: the host's hrtimer callback is running (it fires or re-arms);
 * taking the timer back waits for it, as hrtimer_cancel() waits for a running callback.
 */
export const TIMER = { DISARMED: 0, ON_VCPU: 1, ON_HOST: 2, HOST_FIRING: 3, ON_SLEEPER: 4 } as const;

/**
 * Who waits for this vCPU's next interrupt outside kvm_vcpu_block(), on the
 * kick word: the guest itself in a native HLT or MWAIT (x86, guest mode, pCPU
 * kept) or an untrapped WFI/WFE (arm64, the same), or the VMM in its own halt
 * wait (userspace irqchip). A waker that sees a value other than NONE bumps the
 * kick word and notifies (kick.ts): one wake path for all of them.
 */
export const IDLE_WAIT = { NONE: 0, HLT_IN_GUEST: 1, MWAIT_IN_GUEST: 2, VMM_HALTED: 3, WFI_IN_GUEST: 4, WFE_IN_GUEST: 5 } as const;

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
    'timer_pending', // apic->lapic_timer.pending: the timer fired and is not yet in the IRR (kvm_cpu_has_pending_timer)
    'mp_state', // MP_STATE.*
    'resample', // bumped (and notified) when the guest EOIs a line with an irqfd resampler
    'poll_control', // MSR_KVM_POLL_CONTROL bit 0: host halt polling allowed (kvm_arch_no_poll when 0)
    'in_spin_loop', // vcpu->spin_loop.in_spin_loop: inside kvm_vcpu_on_spin()
    'dy_eligible', // vcpu->spin_loop.dy_eligible: toggled by other spinners (kvm_vcpu_eligible_for_directed_yield)
    'alarm_armed', // 1 while alarm_at is armed; whoever clears it (fire or disarm) owns it
    'apicv', // posted interrupts are on for this vCPU (APICv / AVIC)
    'pi_on', // the posted-interrupt descriptor's ON bit: a notification waits for the running vCPU
    'lazy_tscdeadline', // proposal: MSR_KVM_LAZY_TSCDEADLINE's KVM_MSR_ENABLED bit (the guest registered its page)
    'idle_wait', // IDLE_WAIT.*
    'monitor_line', // guest-memory line armed by a native MONITOR, or -1
    'monitor_armed', // 1 from MONITOR until a write to the line (or MWAIT's return) triggers it
    'userspace_exits', // kvm_run->userspace_exits, set by the VMM before each KVM_RUN (2023 proposal)
  ],
  [
    'tsc_deadline', // the armed MSR_IA32_TSC_DEADLINE, guest TSC = ns on the shared clock
    ['pending_since', IRQ_LINES], // when each line became pending: the start of a wake-latency sample
    'halt_poll_ns', // vcpu->halt_poll_ns
    'ple_window', // vmx->ple_window, cycles (= ns on the 1 GHz TSC)
    'alarm_at', // the VMM's watchdog timer for this vCPU thread (sim-loop): when it signals the thread (vmm/alarm.ts)
    'timer_advance_ns', // lapic_timer.timer_advance_ns (debugfs lapic_timer_advance_ns): the timer fires this early
    'expired_tscdeadline', // lapic_timer.expired_tscdeadline: the deadline that fired, for __kvm_wait_lapic_expire (0: none)
    // proposal: the guest's struct kvm_lazy_tscdeadline page (guest memory the host maps), TSC values, 0 = none
    'lazy_armed', // written by the host only: the deadline armed in a host timer
    'lazy_pending', // written by the guest only: the latest deadline its clockevent asked for
  ],
);
/** One record per vCPU. */
export const VCPU = region('vcpu', VCPU_BLOCK);
export type VcpuRecord = RecordOf<typeof VCPU>;
