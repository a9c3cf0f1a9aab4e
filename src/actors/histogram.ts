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

/** The JavaScript implementation (build()'s default without WebAssembly), whose counts array the functions below read. */
export const newHistogram = (): hdr.JsHistogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60e9, numberOfSignificantValueDigits: 3 }) as hdr.JsHistogram;

/**
 * The histogram from bucket counts (indices increasing): each count set at its index, then the
 * totals, min and max established from them, as HdrHistogram's own decoding does (the max at its
 * bucket's highest value).
 */
function fromCounts(index: ArrayLike<number>, counts: ArrayLike<number>): hdr.JsHistogram {
  const h = newHistogram();
  for (let k = 0; k < index.length; k++) h.setCountAtIndex(index[k], counts[k]);
  h.establishInternalTackingValues(index.length ? index[index.length - 1] + 1 : 0);
  return h;
}

/** The histogram a thread recorded. */
export function decodeLatency(e: EncodedLatency): hdr.JsHistogram {
  return fromCounts(e.index, e.counts);
}

/** Several threads' histograms as one: their counts summed bucket by bucket, then one histogram built. */
export function mergeLatency(parts: readonly EncodedLatency[]): hdr.JsHistogram {
  let sum = new Float64Array(0);
  for (const p of parts) {
    const top = p.index.length ? p.index[p.index.length - 1] : -1;
    if (top >= sum.length) {
      const bigger = new Float64Array(top + 1);
      bigger.set(sum);
      sum = bigger;
    }
    for (let k = 0; k < p.index.length; k++) sum[p.index[k]] += p.counts[k];
  }
  const index: number[] = [];
  for (let i = 0; i < sum.length; i++) if (sum[i] !== 0) index.push(i);
  return fromCounts(index, index.map((i) => sum[i]));
}

export function summarize(h: hdr.JsHistogram): LatencySummary {
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
function meanOf(h: hdr.JsHistogram): number {
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
