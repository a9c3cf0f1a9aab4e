import * as hdr from 'hdr-histogram-js';
import { liveBucket, liveBucketLow } from './live-histogram.ts';

/**
 * Latency histograms (HdrHistogram, 3 significant digits, 1 ns to 60 s),
 * recorded inside the measuring thread and shipped as compressed base64 so
 * the control plane can merge them across threads.
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

export class LatencyRecorder {
  readonly histogram = newHistogram();
  /** Samples below zero (recorded as 0): for a "never early" invariant, this must stay 0. */
  negative = 0;

  record(ns: number): void {
    if (ns < 0) {
      this.negative++;
      ns = 0;
    }
    this.histogram.recordValue(Math.round(ns));
  }

  encode(): EncodedLatency {
    return { hdr: hdr.encodeIntoCompressedBase64(this.histogram), negative: this.negative };
  }
}

export interface EncodedLatency {
  hdr: string;
  negative: number;
}

export function decodeLatency(e: EncodedLatency): hdr.Histogram {
  return hdr.decodeFromCompressedBase64(e.hdr);
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
