import { describe, expect, it } from 'vitest';
import { newHistogram, summarize } from '../../src/actors/histogram.ts';
import { BLOCK_FILE_BYTES, createBlockBackend } from '../../src/host/vmm/block-backend.ts';
import { BlockWriter } from '../../src/host/vmm/block-writer.ts';

// The block backend's device, on the test's thread: what it says it serves is what it serves.

function serve(latencyNs: number, n: number) {
  const writer = new BlockWriter({ kind: 'synthetic', latency_ns: latencyNs, block_size: 4096, file_bytes: BLOCK_FILE_BYTES });
  const h = newHistogram();
  let spin = 0;
  let below = 0;
  for (let i = 0; i < n; i++) {
    const s = writer.write(writer.nextOffset());
    h.recordValue(s.service_ns);
    spin += s.spin_ns;
    if (s.service_ns < latencyNs) below++;
    if (s.spin_ns > s.service_ns) throw new Error('spun longer than it served');
  }
  return { ...summarize(h), spin, below };
}

describe('the synthetic block device', () => {
  it('serves each request for its whole service time, never less, and close to it at p50 (a plain timed wait takes ~95 µs for 20 µs)', () => {
    const s = serve(20_000, 300);
    expect(s.below).toBe(0);
    expect(s.p50).toBeLessThan(30_000);
    expect(s.spin).toBeGreaterThan(0); // the last stretch is spun, and reported
  });

  it('sleeps most of a long service time instead of spinning it', () => {
    const s = serve(5_000_000, 20);
    expect(s.below).toBe(0);
    expect(s.spin).toBeLessThan(0.5 * 20 * 5_000_000);
  });

  it('times a real O_DSYNC write as the file backend’s service time', () => {
    const backend = createBlockBackend('file', 4096, 0);
    try {
      const writer = new BlockWriter(backend.config);
      const s = writer.write(writer.nextOffset());
      writer.close();
      expect(s.service_ns).toBeGreaterThan(0);
      expect(s.spin_ns).toBe(0);
    } finally {
      backend.remove();
    }
  });
});
