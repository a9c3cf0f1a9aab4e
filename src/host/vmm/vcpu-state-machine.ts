/**
 * The VMM's vCPU thread as a state machine (Firecracker's vstate/vcpu): each
 * state is a function that returns the next one, and one KVM_RUN with the
 * VMM's handling of what it returned is reduced to three outcomes, whatever
 * runs underneath (the model's KVM_RUN, the simulator's budgeted one, or the
 * kernel's ioctl on /dev/kvm):
 *
 *   Running ---- handled ----> Running
 *   Running ---- stopped ----> Exited          (the guest ended)
 *   Running -- interrupted --> Exited          (the VMM's stop event)
 *                         \--> Paused          (the VM is stopped: QEMU's `stop`)
 *                         \--> Running         (anything else: the signal is taken)
 *   Paused  ---- resumed ----> Running, or Exited if stopping
 */

export type VcpuEmulation = 'handled' | 'interrupted' | 'stopped';
export type VcpuState = 'running' | 'paused' | 'exited';

/** What the state machine drives: one vCPU thread's KVM_RUN and the VMM's side of it. */
export interface VcpuEmulator {
  /** One KVM_RUN and the VMM's handling of its exit. */
  runEmulation(): VcpuEmulation;
  /** The VMM's stop event. */
  stopRequested(): boolean;
  /** The VM is stopped. */
  pauseRequested(): boolean;
  /** A loop point after a kick: carry out an injected fault. */
  checkFault(): void;
  /** Paused: wait in the VMM (off the pCPU) until resumed or stopped. */
  waitWhilePaused(): void;
}

function running(v: VcpuEmulator): VcpuState {
  for (;;) {
    switch (v.runEmulation()) {
      case 'handled':
        continue;
      case 'stopped':
        return 'exited';
      case 'interrupted':
        if (v.stopRequested()) return 'exited';
        v.checkFault();
        if (v.pauseRequested()) return 'paused';
    }
  }
}

function paused(v: VcpuEmulator): VcpuState {
  v.waitWhilePaused();
  return v.stopRequested() ? 'exited' : 'running';
}

/** Run the vCPU from Running until it has Exited. */
export function runVcpuStateMachine(v: VcpuEmulator): void {
  let state: VcpuState = 'running';
  while (state !== 'exited') state = state === 'running' ? running(v) : paused(v);
}
