/**
 * Interrupt vectors the guest kernel installs handlers for: Linux's
 * LOCAL_TIMER_VECTOR, and the first device vector. The modelled LAPIC delivers
 * its lines on these (LINE_VECTOR in host/kvm/vcpu-state.ts).
 */
export const LAPIC_TIMER_VECTOR = 0xef;
export const DEVICE_VECTOR = 0x30;
