import { Assembler } from '../assembler.ts';
import type { GuestProgram } from '../isa.ts';
import { VIRTIO_BLK_NOTIFY_PORT, VIRTIO_BLK_VECTOR } from '../kernel/vectors.ts';
import { idleSetup, kernelOf, waitUntilSet, type GuestKernel } from '../kernel/idle.ts';

/**
 * Latency-bound synchronous writes, the halt-polling RFC's benchmark (seeds/002:
 * `dd oflag=dsync` of small blocks): each vCPU has one write outstanding at a
 * time on its own virtio-blk queue. It notifies the device (an OUT to the
 * queue-notify register, which KVM turns into an ioeventfd signal for the
 * VMM's I/O thread), idles until the completion interrupt, samples the
 * request's latency as the guest sees it, and submits the next.
 *
 * Registers: r0 the queue (= this CPU), r1 the submit time, r5 "completed"
 * (set by the interrupt handler, as a driver's completion would).
 */
export function dsyncIo({ kernel }: { kernel?: GuestKernel } = {}): GuestProgram {
  const a = new Assembler();
  a.label('entry').rdpid(0);
  idleSetup(a, kernel?.idle);
  a.sti();
  a.label('submit').movi(5, 0).rdtsc(1).out(VIRTIO_BLK_NOTIFY_PORT, 0);
  // wait_for_completion(): idle until the handler has run (checked with interrupts off: no lost wakeup).
  waitUntilSet(a, 5, kernel?.idle, kernel?.arch);
  a.label('done').rdtsc(2).sub(3, 2, 1).sample('io_latency', 3).jmp('submit');
  a.label('virtio_blk_isr').movi(5, 1).eoi().iret();
  a.handler(VIRTIO_BLK_VECTOR, 'virtio_blk_isr');
  return a.assemble('dsync-io', 'entry', kernelOf(kernel));
}
