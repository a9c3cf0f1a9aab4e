import { describe, expect, it } from 'vitest';
import { allocateBlockPoolRings, BlockPoolHeader, CLOSE_QUEUE, POOL_RING_CAPACITY, poolRings } from '../../src/host/vmm/block-pool.ts';

// The block pool's shared rings (block-pool.ts): one request ring and one completion ring per pool
// thread, none overlapping another, and the header the I/O thread reads (serve tasks started, a failure).

describe('block pool rings', () => {
  it('gives each pool thread its own request and completion ring: a record on one is seen on no other', () => {
    const rings = allocateBlockPoolRings(3);
    const pairs = [0, 1, 2].map((i) => poolRings(rings, i));
    // Fill thread 1's rings to capacity: its neighbours' stay empty (no overlap), its own refuse one more.
    for (let n = 0; n < POOL_RING_CAPACITY; n++) {
      expect(pairs[1].requests.tryPush([n % 7, n * 4096])).toBe(true);
      expect(pairs[1].completions.tryPush([n % 7, 20_000 + n, n])).toBe(true);
    }
    expect(pairs[1].requests.tryPush([0, 0])).toBe(false);
    expect(pairs.map((p) => [p.requests.size, p.completions.size])).toEqual([
      [0, 0],
      [POOL_RING_CAPACITY, POOL_RING_CAPACITY],
      [0, 0],
    ]);
    // Another view of the same memory (what a pool thread builds from its task) reads them back in order.
    const seen = poolRings({ sab: rings.sab, threads: 3 }, 1);
    const req = new Float64Array(2);
    expect(seen.requests.tryPop(req)).toBe(true);
    expect([...req]).toEqual([0, 0]);
    const services: number[] = [];
    expect(seen.completions.drain((c) => services.push(c[1]))).toBe(POOL_RING_CAPACITY);
    expect(services.slice(0, 3)).toEqual([20_000, 20_001, 20_002]);
    expect(CLOSE_QUEUE).toBeLessThan(0); // never a queue number
  });

  it('counts the serve tasks that started and remembers a pool thread that failed', async () => {
    const rings = allocateBlockPoolRings(2);
    const header = new BlockPoolHeader(rings);
    const other = new BlockPoolHeader({ sab: rings.sab, threads: 2 });
    expect(header.started).toBe(0);
    other.markStarted();
    other.markStarted();
    await header.waitStarted(2, 1000);
    expect(header.started).toBe(2);
    expect(header.failed).toBe(false);
    other.markFailed();
    expect(header.failed).toBe(true);
  });
});
