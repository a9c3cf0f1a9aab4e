/**
 * Latency samples as the measuring thread records them: counts in
 * HdrHistogram's own buckets (lowest discernible value 1 ns, 3 significant
 * digits), with no HdrHistogram code in the thread. That module loads zlib,
 * pako and a WebAssembly image when it is imported, which every one of 256
 * vCPU threads paid at start-up; the control plane, which merges and
 * summarises, rebuilds the histogram from these counts (histogram.ts).
 */

/** 3 significant digits: 2048 sub-buckets per bucket, the upper 1024 new in each (HdrHistogram's subBucketHalfCount). */
const HALF = 1024;
const SUB_BUCKETS = 2 * HALF;

/** The highest set bit of a non-negative integer below 2^53. */
function highestBit(v: number): number {
  const hi = Math.floor(v / 0x1_0000_0000);
  return hi > 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(v >>> 0);
}

/** HdrHistogram's counts index of an integer value >= 0 (countsArrayIndex). */
export function hdrIndex(value: number): number {
  const bucket = value < SUB_BUCKETS ? 0 : highestBit(value) - 10;
  return bucket * HALF + Math.floor(value / 2 ** bucket);
}

export class LatencyRecorder {
  /** Counts by HdrHistogram index, grown as larger values come (most runs stay in a few thousand entries). */
  private counts = new Float64Array(4 * HALF);
  /** The indices in use, in first-use order: encoding visits these, not the ~30k buckets (a cold loop over all of them took 10 ms per thread). */
  private readonly used: number[] = [];
  /** Samples below zero (recorded as 0): for a "never early" invariant, this must stay 0. */
  negative = 0;

  record(ns: number): void {
    // A sample that is not a time (NaN, Infinity, beyond 2^53 ns) is a bug where it was taken: say so, do not bucket it.
    if (!(Math.abs(ns) <= Number.MAX_SAFE_INTEGER)) throw new RangeError(`latency sample ${ns} ns is not a finite time`);
    if (ns < 0) {
      this.negative++;
      ns = 0;
    }
    const i = hdrIndex(Math.round(ns));
    if (i >= this.counts.length) this.grow(i);
    if (this.counts[i]++ === 0) this.used.push(i);
  }

  private grow(index: number): void {
    let n = this.counts.length;
    while (n <= index) n *= 2;
    const bigger = new Float64Array(n);
    bigger.set(this.counts);
    this.counts = bigger;
  }

  /** The non-empty buckets, in increasing order: what crosses to the control plane (two typed arrays, copied as memory). */
  encode(): EncodedLatency {
    const index = Uint32Array.from(this.used).sort();
    const counts = new Float64Array(index.length);
    for (let k = 0; k < index.length; k++) counts[k] = this.counts[index[k]];
    return { index, counts, negative: this.negative };
  }
}

export interface EncodedLatency {
  /** HdrHistogram counts indices of the non-empty buckets, increasing (hdrIndex). */
  index: Uint32Array;
  /** The count in each of them. */
  counts: Float64Array;
  negative: number;
}
