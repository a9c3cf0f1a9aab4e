import { describe, expect, it } from 'vitest';
import { LayoutBuilder, SharedMemory, struct } from '../../src/actors/shared-memory.ts';

describe('shared memory layout', () => {
  const S = struct(['a', ['arr', 20], 'b'], ['t', 'u']);

  it('pads every record to whole cache lines so neighbours never share one', () => {
    expect(S.i32.size).toBe(32); // 22 words -> two 64-byte lines
    expect(S.f64.size).toBe(8);
    expect(S.i32.index).toEqual({ a: 0, arr: 1, b: 21 });
    const mem = SharedMemory.allocate(new LayoutBuilder().struct('x', S, 3).bytes('raw', 10).struct('y', S, 1).build());
    const recs = mem.records('x');
    for (const r of [...recs, mem.record('y', 0)]) {
      expect(r.i32.byteOffset % 64).toBe(0);
      expect(r.f64.byteOffset % 64).toBe(0);
    }
    // Writes through one record never show in another.
    recs[1].i32[S.i32.index.b] = 7;
    recs[1].f64[S.f64.index.u] = 1.5;
    expect(recs[0].i32.every((w) => w === 0) && recs[2].i32.every((w) => w === 0)).toBe(true);
    expect(recs[0].f64.every((w) => w === 0) && recs[2].f64.every((w) => w === 0)).toBe(true);
    expect(mem.bytes('raw').byteLength).toBe(10);
  });

  it('refuses duplicate names and out-of-range records', () => {
    expect(() => struct(['a', 'a'], [])).toThrow(/declared twice/);
    expect(() => new LayoutBuilder().struct('x', S, 1).bytes('x', 4)).toThrow(/declared twice/);
    const mem = SharedMemory.allocate(new LayoutBuilder().struct('x', S, 2).build());
    expect(() => mem.record('x', 2)).toThrow(RangeError);
  });
});
