import * as hdr from 'hdr-histogram-js';
import type { EncodedLatency } from './latency-recorder.ts';
import { liveBucket, liveBucketLow } from './live-histogram.ts';

/**
 * Latency histograms (HdrHistogram, 3 significant digits, 1 ns to 60 s) on
 * the control plane: rebuilt from the bucket counts each measuring thread
 * recorded (latency-recorder.ts), merged across threads and summarised. Only
 * the main thread imports this module.
 */

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  min: number;
  mean: number;
  count: number;
}

export const newHistogram = (): hdr.Histogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60e9, numberOfSignificantValueDigits: 3 });

/** The histogram a thread recorded: each bucket's count at its lowest value, so every count lands in its own bucket. */
export function decodeLatency(e: EncodedLatency): hdr.Histogram {
  const h = newHistogram() as hdr.JsHistogram;
  const b = e.buckets;
  const last = b.length - 2;
  for (let i = 0; i < last; i += 2) h.recordValueWithCount(b[i], b[i + 1]);
  // The top bucket at its highest value: the max HdrHistogram's own decoding reports (its min is the lowest bucket's lowest).
  if (last >= 0) h.recordValueWithCount(h.highestEquivalentValue(b[last]), b[last + 1]);
  return h;
}

export function mergeLatency(parts: readonly EncodedLatency[]): hdr.Histogram {
  const total = newHistogram();
  for (const p of parts) total.add(decodeLatency(p));
  return total;
}

export function summarize(h: hdr.Histogram): LatencySummary {
  const count = h.totalCount;
  const at = (p: number) => (count ? h.getValueAtPercentile(p) : 0);
  return {
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: count ? h.maxValue : 0,
    min: at(0),
    mean: count ? Math.round(meanOf(h)) : 0,
    count,
  };
}

/**
 * The histogram's mean, as hdr-histogram-js computes it (each bucket at its median-equivalent
 * value), by a plain loop over the counts up to the largest value. The library's getter walks a
 * RecordedValuesIterator, ~1 ms per histogram: 256 vCPUs' results took a second to summarise.
 */
function meanOf(h: hdr.Histogram): number {
  if (!(h instanceof hdr.JsHistogram)) return h.mean;
  let total = 0;
  for (let i = h.countsArrayIndex(h.maxValue); i >= 0; i--) {
    const c = h.getCountAtIndex(i);
    if (c !== 0) total += h.medianEquivalentValue(h.valueFromIndex(i)) * c;
  }
  return total / h.totalCount;
}

/**
 * A histogram's distribution as log buckets, 8 per power of two (the live
 * view's buckets, live-histogram.ts): [lower ns, upper ns, count] for each
 * non-empty bucket. Small enough to keep in a result and chart.
 */
export function logBuckets(h: hdr.Histogram): [number, number, number][] {
  const counts = new Map<number, number>();
  const it = (h as unknown as { recordedValuesIterator: { reset(): void; hasNext(): boolean; next(): { valueIteratedTo: number; countAtValueIteratedTo: number } } }).recordedValuesIterator;
  it.reset();
  while (it.hasNext()) {
    const v = it.next();
    const b = liveBucket(v.valueIteratedTo);
    counts.set(b, (counts.get(b) ?? 0) + v.countAtValueIteratedTo);
  }
  return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([b, n]) => [Math.round(liveBucketLow(b)), Math.round(liveBucketLow(b + 1)), n]);
}
