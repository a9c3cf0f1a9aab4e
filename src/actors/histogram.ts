import * as hdr from 'hdr-histogram-js';

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
    mean: count ? Math.round(h.mean) : 0,
    count,
  };
}
