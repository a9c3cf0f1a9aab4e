import { describe, expect, it } from 'vitest';
import { decodeLatency, LatencyRecorder, mergeLatency, newHistogram, summarize } from '../../src/actors/histogram.ts';
import { prng } from '../../src/actors/prng.ts';

describe('latency histograms', () => {
  it('summarise with the library’s own mean (each bucket at its median-equivalent value), percentiles and extremes', () => {
    const rand = prng(3);
    const h = newHistogram();
    for (let i = 0; i < 20_000; i++) h.recordValue(Math.round(Math.exp(rand() * 22)));
    const s = summarize(h);
    expect(s.mean).toBe(Math.round(h.mean));
    expect(s).toMatchObject({ count: 20_000, p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99), max: h.maxValue, min: h.getValueAtPercentile(0) });
    expect(summarize(newHistogram())).toMatchObject({ count: 0, mean: 0, max: 0 });
  });

  it('merge what the threads encoded, counting negative samples apart', () => {
    const a = new LatencyRecorder();
    const b = new LatencyRecorder();
    [5, 7, -3].forEach((v) => a.record(v));
    [1000, 2000].forEach((v) => b.record(v));
    const m = mergeLatency([a.encode(), b.encode()]);
    expect(m.totalCount).toBe(5);
    expect(summarize(m).mean).toBe(Math.round(m.mean));
    expect(a.encode().negative).toBe(1);
    expect(decodeLatency(a.encode()).minNonZeroValue).toBe(5);
  });
});
