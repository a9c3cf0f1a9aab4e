/**
 * What goes wrong inside the modelled KVM, by kind, with the vCPU it happened
 * on. Each is a guest program (or a scenario) doing what its architecture or
 * VM does not offer: the message says which.
 */
export type KvmErrorKind =
  /** A guest exit the architecture has no exit reason for (or no row in its exit table). */
  | 'unhandled-exit'
  /** A port write no in-kernel device (ioeventfd) claims. */
  | 'no-io-device'
  /** An MSR the VM's CPUID does not advertise. */
  | 'msr-not-advertised'
  /** A write KVM answers with #GP (reserved bits set): the model's guest kernel has no #GP handler. */
  | 'general-protection'
  /** An interrupt line the LAPIC does not have. */
  | 'bad-line'
  /** An instruction of the other architecture. */
  | 'wrong-arch';

export class KvmError extends Error {
  constructor(
    readonly kind: KvmErrorKind,
    readonly vcpu: number,
    detail: string,
  ) {
    super(`vcpu${vcpu}: ${detail}`);
    this.name = 'KvmError';
  }
}
