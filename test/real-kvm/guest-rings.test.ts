import { describe, expect, it } from 'vitest';
import { GuestRing } from '../../src/real-kvm/guest-rings.ts';
import { GUEST_SYMBOLS as G } from '../../src/real-kvm/guest/image.ts';

// The host reads the guest's sample ring as the guest writes it (guest/guest.S): a slot, then the
// count. Driven here by writing guest memory the way the guest's handler does.

function guest() {
  const segment = new ArrayBuffer(0x10000);
  const view = new DataView(segment);
  let count = 0;
  return {
    segment,
    /** What the guest's RECORD + ISR_EXIT do: fill the slot, then bump the count. */
    sample(cycles: number, handler = 100) {
      const o = G.DEVICE_RING + 8 * (count & (G.RING_SLOTS - 1));
      view.setInt32(o, cycles, true);
      view.setUint32(o + 4, handler, true);
      count = (count + 1) >>> 0;
      view.setUint32(G.CB_DEVICE_COUNT, count, true);
    },
    setCount(n: number) {
      count = n >>> 0;
      view.setUint32(G.CB_DEVICE_COUNT, count, true);
    },
  };
}

describe('the guest sample ring', () => {
  it('reads each sample once, in order, signed', () => {
    const g = guest();
    const ring = new GuestRing(g.segment, G.CB_DEVICE_COUNT, G.DEVICE_RING);
    const got: number[] = [];
    g.sample(10);
    g.sample(-5);
    expect(ring.drain((s) => got.push(s.cycles))).toBe(2);
    expect(ring.drain((s) => got.push(s.cycles))).toBe(0);
    g.sample(7, 33);
    ring.drain((s) => got.push(s.cycles, s.handler_cycles));
    expect(got).toEqual([10, -5, 7, 33]);
    expect(ring.lost).toBe(0);
  });

  it('counts what the guest overwrote before the host read it, and reads the rest', () => {
    const g = guest();
    const ring = new GuestRing(g.segment, G.CB_DEVICE_COUNT, G.DEVICE_RING);
    for (let i = 0; i < G.RING_SLOTS + 5; i++) g.sample(i);
    const got: number[] = [];
    expect(ring.drain((s) => got.push(s.cycles))).toBe(G.RING_SLOTS);
    expect(ring.lost).toBe(5);
    expect(got[0]).toBe(5);
    expect(got.at(-1)).toBe(G.RING_SLOTS + 4);
  });

  it('follows the guest’s u32 count across its wrap', () => {
    const g = guest();
    g.setCount(0xffff_fffe);
    const ring = new GuestRing(g.segment, G.CB_DEVICE_COUNT, G.DEVICE_RING);
    ring.drain(() => {}); // the first read catches up (a ring's worth at most)
    const got: number[] = [];
    g.sample(1);
    g.sample(2);
    g.sample(3);
    ring.drain((s) => got.push(s.cycles));
    expect(got).toEqual([1, 2, 3]);
  });
});
