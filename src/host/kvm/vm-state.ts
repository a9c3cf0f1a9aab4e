import { struct } from '../../actors/shared-memory.ts';
import { KVM_PARAMS, type KvmParams } from './params.ts';
import type { HaltPollCap, HaltPollParams } from './halt-poll.ts';

/**
 * VM-wide state every vCPU reads on every halt: the kvm module parameters
 * (writable at runtime, re-read with READ_ONCE on each halt) and the VM's
 * KVM_CAP_HALT_POLL override.
 */
export const KVM_VM = struct(['override_halt_poll_ns', 'resample_lines', 'ioeventfd_port', 'ioeventfd_aio', 'ioeventfd_queues', 'last_boosted_vcpu'], [...KVM_PARAMS.map((p) => p.name), 'max_halt_poll_ns']);
const I = KVM_VM.i32.index;
const F = KVM_VM.f64.index;

export interface KvmVmRecord {
  i32: Int32Array;
  f64: Float64Array;
}

export function writeKvmParams(rec: KvmVmRecord, params: Partial<KvmParams>): void {
  for (const [k, v] of Object.entries(params)) rec.f64[F[k as keyof KvmParams]] = v;
}

/** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL, args[0] = maxNs): the VM's ceiling, regardless of the global param. */
export function enableCapHaltPoll(rec: KvmVmRecord, maxNs: number): void {
  rec.f64[F.max_halt_poll_ns] = maxNs;
  Atomics.store(rec.i32, I.override_halt_poll_ns, 1); // after the value, as KVM's smp_wmb() orders them
}

/** READ_ONCE of the module params, into a reused object (this runs on every halt). */
export function readHaltPollParams(rec: KvmVmRecord, into: HaltPollParams): HaltPollParams {
  into.halt_poll_ns = rec.f64[F.halt_poll_ns];
  into.halt_poll_ns_grow = rec.f64[F.halt_poll_ns_grow];
  into.halt_poll_ns_grow_start = rec.f64[F.halt_poll_ns_grow_start];
  into.halt_poll_ns_shrink = rec.f64[F.halt_poll_ns_shrink];
  return into;
}

export function readHaltPollCap(rec: KvmVmRecord, into: HaltPollCap): HaltPollCap {
  into.override_halt_poll_ns = Atomics.load(rec.i32, I.override_halt_poll_ns) !== 0;
  into.max_halt_poll_ns = rec.f64[F.max_halt_poll_ns];
  return into;
}

/**
 * KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE on `line`: the VMM is told (through
 * the resamplefd) when the guest EOIs that line, so a device can raise it again.
 */
export function enableIrqfdResample(rec: KvmVmRecord, line: number): void {
  Atomics.or(rec.i32, I.resample_lines, 1 << line);
}

export function irqfdResampleLines(rec: KvmVmRecord): number {
  return Atomics.load(rec.i32, I.resample_lines);
}

/** kvm->last_boosted_vcpu: where kvm_vcpu_on_spin()'s round robin starts (after it). */
export function lastBoostedVcpu(rec: KvmVmRecord): number {
  return Atomics.load(rec.i32, I.last_boosted_vcpu);
}

export function setLastBoostedVcpu(rec: KvmVmRecord, idx: number): void {
  Atomics.store(rec.i32, I.last_boosted_vcpu, idx);
}
