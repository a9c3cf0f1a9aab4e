/**
 * Interrupt vectors the guest kernel installs handlers for: Linux's
 * LOCAL_TIMER_VECTOR, and the first device vector. The modelled LAPIC delivers
 * its lines on these (LINE_VECTOR in host/kvm/vcpu-state.ts).
 */
export const LAPIC_TIMER_VECTOR = 0xef;
export const DEVICE_VECTOR = 0x30;
/** The virtio-blk request queue's vector (one MSI-X vector per queue, each queue's aimed at its vCPU). */
export const VIRTIO_BLK_VECTOR = 0x31;
/** Legacy virtio-pci's VIRTIO_PCI_QUEUE_NOTIFY register in the device's I/O BAR: the guest writes a queue index to it. */
export const VIRTIO_BLK_NOTIFY_PORT = 0xc050;
