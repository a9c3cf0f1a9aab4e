import type { GuestExit, GuestHost } from '../../guest/interpreter.ts';
import type { SampleChannel } from '../../guest/isa.ts';
import type { KvmVcpu } from './kvm-vcpu.ts';
import { now } from '../../actors/clock.ts';
import { kvmGuestRuns, kvmInjectPending, kvmLapicEoi } from './lapic.ts';
import { timerDueOnVcpu } from './lapic-timer.ts';
import { kvmIdleInGuest, kvmVcpuKicked, type NativeIdle } from './native-idle.ts';

/**
 * What guest execution asks of the vCPU it runs on, at instruction boundaries
 * (the interpreter's GuestHost): the hardware's side of guest mode. `kicked`
 * and `timerDue` are asked at every step, so they read shared words directly.
 */
export class VcpuGuestHost implements GuestHost {
  readonly hltInGuest: boolean;
  readonly mwaitInGuest: boolean;

  constructor(private readonly vcpu: KvmVcpu) {
    this.hltInGuest = vcpu.arch.hltInGuest;
    this.mwaitInGuest = vcpu.arch.mwaitInGuest;
  }

  kicked(): boolean {
    return kvmVcpuKicked(this.vcpu);
  }
  timerDue(at: number): boolean {
    return timerDueOnVcpu(this.vcpu.block, at);
  }
  /**
   * The guest just enabled interrupts (STI, IRET) with one pending. x86: KVM set interrupt-window
   * exiting (enable_irq_window) when it could not inject it, so the guest exits and the next entry
   * injects it. arm64 has no interrupt window: the vGIC put the pending IRQ in a list register at
   * entry whatever PSTATE.I (or GICv4 delivered it directly), so the CPU takes it as soon as the
   * guest unmasks, in guest mode: delivered here, no exit (the masked WFI of an idle loop, then
   * local_irq_enable()).
   */
  interruptWindowRequested(): boolean {
    const vcpu = this.vcpu;
    if (Atomics.load(vcpu.block.i32, vcpu.block.I.irr) === 0) return false;
    if (vcpu.arch.name !== 'arm64') return true;
    kvmInjectPending(vcpu, vcpu.arch.directInjection);
    kvmGuestRuns(vcpu, now());
    return false;
  }
  eoi(): void {
    kvmLapicEoi(this.vcpu);
  }
  sample(channel: SampleChannel, value: number): void {
    this.vcpu.observer.sample(channel, value);
  }
  pauseLoopExit(cycles: number, at: number): boolean {
    return this.vcpu.arch.pauseLoopExit(cycles, at);
  }
  wfxTrapped(wfe: boolean): boolean {
    return this.vcpu.arch.wfxTrapped(wfe);
  }
  idleInGuest(kind: NativeIdle, entering: boolean): GuestExit | 0 {
    return kvmIdleInGuest(this.vcpu, kind, entering);
  }
  monitor(addr: number): void {
    this.vcpu.mem.monitor(this.vcpu.block, addr);
  }
  store(addr: number, value: number): void {
    this.vcpu.mem.store(addr, value);
  }
  load(addr: number): number {
    return this.vcpu.mem.load(addr);
  }
  cmpxchg(addr: number, expected: number, value: number): number {
    return this.vcpu.mem.cmpxchg(addr, expected, value);
  }
  xadd(addr: number, delta: number): number {
    return this.vcpu.mem.xadd(addr, delta);
  }
  cpuId(): number {
    return this.vcpu.id;
  }
}
