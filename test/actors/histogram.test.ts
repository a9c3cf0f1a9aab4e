import * as hdr from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import { decodeLatency, mergeLatency, newHistogram, summarize } from '../../src/actors/histogram.ts';
import { hdrIndex, LatencyRecorder } from '../../src/actors/latency-recorder.ts';
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

  it('a thread’s recorder buckets exactly as HdrHistogram does: the rebuilt histogram is the one HdrHistogram recorded and encoded', () => {
    const rand = prng(11);
    const direct = newHistogram();
    const rec = new LatencyRecorder();
    const values = [0, 1, 2047, 2048, 2049, 4095, 4096, 1e6 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 59e9];
    for (let i = 0; i < 50_000; i++) values.push(Math.round(Math.exp(rand() * 24)));
    for (const v of values) {
      direct.recordValue(v);
      rec.record(v);
      expect(hdrIndex(v)).toBe(direct.countsArrayIndex(v));
    }
    const rebuilt = decodeLatency(rec.encode());
    // What the threads shipped before: HdrHistogram's own compressed encoding, which keeps buckets, not the exact max.
    const shipped = hdr.decodeFromCompressedBase64(hdr.encodeIntoCompressedBase64(direct)) as hdr.JsHistogram;
    expect(rebuilt.totalCount).toBe(direct.totalCount);
    expect(summarize(rebuilt)).toEqual(summarize(shipped));
    for (const p of [1, 25, 50, 90, 99, 99.9, 100]) expect(rebuilt.getValueAtPercentile(p)).toBe(direct.getValueAtPercentile(p));
    // Merged with another thread's: as HdrHistogram adds the two.
    const other = newHistogram();
    const otherRec = new LatencyRecorder();
    for (let i = 0; i < 5_000; i++) {
      const v = Math.round(Math.exp(rand() * 16));
      other.recordValue(v);
      otherRec.record(v);
    }
    shipped.add(hdr.decodeFromCompressedBase64(hdr.encodeIntoCompressedBase64(other)) as hdr.JsHistogram);
    expect(summarize(mergeLatency([rec.encode(), otherRec.encode()]))).toEqual(summarize(shipped));
  });

  it('refuses a sample that is not a time, rather than bucketing it', () => {
    const r = new LatencyRecorder();
    for (const bad of [Number.NaN, Infinity, -Infinity, 2 ** 60]) expect(() => r.record(bad)).toThrow(RangeError);
    expect(r.encode()).toEqual({ index: new Uint32Array(0), counts: new Float64Array(0), negative: 0 });
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
