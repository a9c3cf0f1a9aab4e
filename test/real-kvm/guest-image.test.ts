import { describe, expect, it } from 'vitest';
import { assembleGuest, missingBinutils } from '../../src/real-kvm/guest/build.ts';
import { GUEST_IMAGE, GUEST_LOAD_ADDRESS, GUEST_SYMBOLS as G } from '../../src/real-kvm/guest/image.ts';

// The real-KVM guest is guest.S; image.ts carries its bytes so that running haltlab needs no
// assembler. These check that the two agree, and the properties the host relies on.

const missing = missingBinutils();
const at = (addr: number, n: number) => [...GUEST_IMAGE.subarray(addr - GUEST_LOAD_ADDRESS, addr - GUEST_LOAD_ADDRESS + n)];

describe('the real-KVM guest image', () => {
  it.skipIf(missing.length > 0)(`is what guest.S assembles to, byte for byte and symbol for symbol${missing.length ? ` (not checked here: no ${missing.join(', ')})` : ''}`, () => {
    const built = assembleGuest();
    expect(Buffer.from(built.bytes).equals(Buffer.from(GUEST_IMAGE))).toBe(true);
    expect(built.symbols).toEqual({ ...G });
  });

  it('idles with interrupts enabled for the HLT alone: sti; hlt; cli; jmp idle', () => {
    expect(at(G.idle, 5)).toEqual([0xfb, 0xf4, 0xfa, 0xeb, 0xfb]);
  });

  it('timestamps first: each handler’s first instruction is RDTSC', () => {
    for (const isr of [G.timer_isr, G.device_isr]) expect(at(isr, 2)).toEqual([0x0f, 0x31]);
    expect(at(G.spurious_isr, 1)).toEqual([0xcf]); // iret, no EOI
  });

  it('keeps its control block, stack and rings apart inside one 64 KiB segment', () => {
    const cb: [number, number][] = [
      ...[G.CB_DELTA, G.CB_DEADLINE, G.CB_INJECT_TSC, G.CB_BOOT_TSC].map((o): [number, number] => [o, o + 8]),
      ...[G.CB_READY, G.CB_TIMER_COUNT, G.CB_DEVICE_COUNT].map((o): [number, number] => [o, o + 4]),
    ];
    const spans: [number, number][] = ([...cb, [0x100, G.STACK_TOP], [G.TIMER_RING, G.TIMER_RING + 8 * G.RING_SLOTS], [G.DEVICE_RING, G.DEVICE_RING + 8 * G.RING_SLOTS]] as [number, number][]).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    expect(spans.at(-1)![1]).toBeLessThanOrEqual(0x10000);
    expect(G.RING_SLOTS & (G.RING_SLOTS - 1)).toBe(0); // a power of two: slot = count & (RING_SLOTS - 1)
  });

  it('fits below its vCPUs’ segments', () => {
    expect(GUEST_LOAD_ADDRESS + GUEST_IMAGE.length).toBeLessThan(0x10000);
    expect(G.TIMER_VECTOR).not.toBe(G.DEVICE_VECTOR);
  });
});
