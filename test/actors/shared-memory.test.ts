import { describe, expect, it } from 'vitest';
import { bytesRegion, LayoutBuilder, region, SharedMemory, struct } from '../../src/actors/shared-memory.ts';

describe('shared memory layout', () => {
  const S = struct(['a', ['arr', 20], 'b'], ['t', 'u']);
  const X = region('x', S);
  const Y = region('y', S);
  const RAW = bytesRegion('raw');

  it('pads every record to whole cache lines so neighbours never share one', () => {
    expect(S.i32.size).toBe(32); // 22 words -> two 64-byte lines
    expect(S.f64.size).toBe(8);
    expect(S.i32.index).toEqual({ a: 0, arr: 1, b: 21 });
    const mem = SharedMemory.allocate(new LayoutBuilder().struct(X, 3).bytes(RAW, 10).struct(Y, 1).build());
    const recs = mem.records(X);
    for (const r of [...recs, mem.record(Y, 0)]) {
      expect(r.i32.byteOffset % 64).toBe(0);
      expect(r.f64.byteOffset % 64).toBe(0);
    }
    // Writes through one record never show in another.
    recs[1].i32[S.i32.index.b] = 7;
    recs[1].f64[S.f64.index.u] = 1.5;
    expect(recs[0].i32.every((w) => w === 0) && recs[2].i32.every((w) => w === 0)).toBe(true);
    expect(recs[0].f64.every((w) => w === 0) && recs[2].f64.every((w) => w === 0)).toBe(true);
    expect(mem.bytes(RAW).byteLength).toBe(10);
  });

  it('refuses duplicate names and out-of-range records', () => {
    expect(() => struct(['a', 'a'], [])).toThrow(/declared twice/);
    expect(() => new LayoutBuilder().struct(X, 1).bytes(bytesRegion('x'), 4)).toThrow(/declared twice/);
    const mem = SharedMemory.allocate(new LayoutBuilder().struct(X, 2).build());
    expect(() => mem.record(X, 2)).toThrow(RangeError);
  });

  it('a record view reads its own fields by name, Int32 and Float64 words apart, and wakes by bumping', () => {
    const A = region('a', struct(['word', 'flag'], ['when']));
    const B = region('b', struct(['other'], ['sum']));
    const mem = SharedMemory.allocate(new LayoutBuilder().struct(A, 1).struct(B, 1).build());
    const a = mem.record(A, 0);
    const b = mem.record(B, 0);
    a.store('flag', 3);
    a.set('when', 2.5);
    b.addf('sum', 1.5);
    b.addf('sum', 1.5);
    expect([a.load('flag'), a.get('when'), b.get('sum')]).toEqual([3, 2.5, 3]);
    expect(a.cas('flag', 3, 4)).toBe(3);
    expect(a.wake('word')).toBe(0); // nobody waits; the word moved so that a waiter could not sleep
    expect(a.load('word')).toBe(1);
    // The compiler keeps each record to its own fields, and Int32 and Float64 words apart (npm run typecheck).
    const wrong = () => {
      // @ts-expect-error: `other` is B's
      a.load('other');
      // @ts-expect-error: `when` is a Float64 word
      a.add('when', 1);
      // @ts-expect-error: `sum` is not A's
      a.get('sum');
    };
    void wrong;
  });
});
