import { describe, expect, it } from 'vitest';
import { Ring } from '../../src/actors/ring.ts';
import { spawnActor, type Runnable } from '../../src/actors/actor.ts';
import { SharedMemory } from '../../src/actors/shared-memory.ts';
import { supervise } from '../../src/actors/supervisor.ts';
import { ringLayout, type RingConfig } from './fixtures/ring-layout.ts';

const region = (capacity: number, width: number) => {
  const byteLength = Ring.byteLength(capacity, width);
  return { sab: new SharedArrayBuffer(byteLength), byteOffset: 0, byteLength };
};

describe('the SPSC ring', () => {
  it('keeps records in order, refuses (and counts) pushes when full, and drains', () => {
    const ring = new Ring(region(4, 2), 4, 2);
    const out = new Float64Array(2);
    expect(ring.tryPop(out)).toBe(false);
    for (let i = 0; i < 4; i++) expect(ring.tryPush([i, i + 0.25])).toBe(true);
    expect(ring.tryPush([9, 9])).toBe(false);
    expect(ring.dropped).toBe(1);
    expect(ring.size).toBe(4);
    expect(ring.tryPop(out)).toBe(true);
    expect([...out]).toEqual([0, 0.25]);
    ring.tryPush([4, 4.25]);
    const seen: number[] = [];
    expect(ring.drain((r) => seen.push(r[0]))).toBe(4);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(ring.size).toBe(0);
  });

  it('a producer that knows where the room ends still sees the consumer’s pops, and never overwrites an unread record', () => {
    const r = region(4, 1);
    const producer = new Ring(r, 4, 1); // each thread has its own view of the shared ring
    const consumer = new Ring(r, 4, 1);
    const out = new Float64Array(1);
    for (let i = 0; i < 4; i++) expect(producer.tryPush([i])).toBe(true);
    expect(producer.tryPush([99])).toBe(false);
    expect(consumer.tryPop(out)).toBe(true);
    expect(out[0]).toBe(0);
    expect(producer.tryPush([4])).toBe(true); // the tail moved: read again once the known room is used up
    expect(producer.tryPush([98])).toBe(false);
    const seen: number[] = [];
    consumer.drain((rec) => seen.push(rec[0]));
    expect(seen).toEqual([1, 2, 3, 4]);
    for (let i = 5; i < 9; i++) expect(producer.tryPush([i])).toBe(true);
    expect(producer.dropped).toBe(2);
    consumer.drain((rec) => seen.push(rec[0]));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('stays correct when its 32-bit sequence numbers wrap', () => {
    const r = region(8, 1);
    const h = new Int32Array(r.sab, 0, 32);
    h[0] = h[16] = 2 ** 31 - 3; // head and tail just below the wrap
    const ring = new Ring(r, 8, 1);
    const out = new Float64Array(1);
    for (let i = 0; i < 100; i++) {
      expect(ring.tryPush([i])).toBe(true);
      if (i % 3 === 2) {
        expect(ring.tryPop(out)).toBe(true);
      }
      expect(ring.size).toBeLessThanOrEqual(8);
      if (ring.size === 8) ring.drain(() => {});
    }
    expect(h[0]).toBeLessThan(0); // it did wrap
  });

  it('refuses a capacity that is not a power of two and a region too small', () => {
    expect(() => Ring.byteLength(6, 1)).toThrow(/power of two/);
    expect(() => new Ring({ sab: new SharedArrayBuffer(64), byteOffset: 0, byteLength: 64 }, 4, 1)).toThrow(/smaller/);
  });

  it('moves 100000 records between two workers through 64 slots, blocking both ways, in order', async () => {
    const mem = SharedMemory.allocate(ringLayout());
    const count = 100_000;
    const actors = (['consumer', 'producer'] as const).map((role) =>
      spawnActor<Runnable<{ moved: number; outOfOrder: number }>>(new URL('./fixtures/ring-actor.ts', import.meta.url), {
        name: role,
        sab: mem.sab,
        layout: mem.layout,
        config: { role, count } satisfies RingConfig,
      }),
    );
    try {
      const outcome = await supervise(actors, { durationMs: 60_000, requestStop: () => {}, graceMs: 1000 });
      expect(outcome).toEqual({ status: 'completed' });
      const snaps = await Promise.all(actors.map((a) => a.call(Promise.resolve(a.api.snapshot()))));
      expect(snaps).toEqual([
        { moved: count, outOfOrder: 0 },
        { moved: count, outOfOrder: 0 },
      ]);
    } finally {
      await Promise.all(actors.map((a) => a.terminate()));
    }
  });
});
