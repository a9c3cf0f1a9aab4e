import { LINE } from '../host/kvm/vcpu-state.ts';
import { enableIrqfdResample, type KvmRecord } from '../host/kvm/vm-state.ts';
import type { IrqSourceConfig, IrqSourceSnapshot } from '../host/vmm/irq-source.ts';
import type { CollectContext, ResultSection, VmmContext, VmmDevices } from './module.ts';

/**
 * The device of irq-wake and mixed: an I/O thread (vmm/irq-source.ts) raises
 * one interrupt at a time through an irqfd, round-robin over the vCPUs, a
 * random gap after the last EOI, which it learns of through the resamplefd.
 */

const IRQ_SOURCE_MODULE = new URL('../host/vmm/irq-source.ts', import.meta.url);

export interface IrqDeviceParams {
  gap_ns: number;
  jitter: number;
  seed: number;
}

export const irqDevice = {
  iothreads: () => 1,
  /** The device learns of each EOI through its irqfd's resamplefd. */
  setUpVm: (kvm: KvmRecord) => enableIrqfdResample(kvm, LINE.DEVICE0),
  vmmThreads: (w: IrqDeviceParams, ctx: VmmContext): VmmDevices => ({
    threads: [
      {
        name: 'iothread0',
        module: IRQ_SOURCE_MODULE,
        config: { vcpus: ctx.vcpus, line: LINE.DEVICE0, gap_ns: w.gap_ns, jitter: w.jitter, seed: w.seed, slot: ctx.slots.iothread(0) } satisfies IrqSourceConfig,
      },
    ],
  }),
  result: (_w: unknown, ctx: CollectContext): ResultSection => {
    const io = ctx.vmm[0] as IrqSourceSnapshot | undefined;
    return io ? { host: { device_interrupts_raised: io.raised, device_eois: io.eois } } : {};
  },
};
