/**
 * A latency histogram in shared memory that one thread records into and any
 * other thread reads while it runs (the HdrHistogram of histogram.ts lives in
 * its thread until the end). Log-linear buckets: BUCKETS_PER_OCTAVE per power
 * of two from 1 ns, so a bucket is about 9% wide; a reader takes differences
 * of two reads to get the samples of an interval.
 */

export const BUCKETS_PER_OCTAVE = 8;
/** 2^31 ns (2.1 s) and above go into the last bucket. */
export const LIVE_BUCKETS = 31 * BUCKETS_PER_OCTAVE + 1;

export function liveBucket(ns: number): number {
  if (!(ns >= 1)) return 0;
  return Math.min(LIVE_BUCKETS - 1, Math.floor(Math.log2(ns) * BUCKETS_PER_OCTAVE));
}

/** The lower bound of bucket i, ns. */
export const liveBucketLow = (i: number): number => 2 ** (i / BUCKETS_PER_OCTAVE);

/** Record one sample into `counts` (an Int32Array view of LIVE_BUCKETS words; single writer). */
export function liveRecord(counts: Int32Array, base: number, ns: number): void {
  Atomics.add(counts, base + liveBucket(ns), 1);
}

export function liveRead(counts: Int32Array, base: number, into = new Float64Array(LIVE_BUCKETS)): Float64Array {
  for (let i = 0; i < LIVE_BUCKETS; i++) into[i] = Atomics.load(counts, base + i);
  return into;
}

/** The value at percentile p (0-100) of bucket counts: the geometric middle of its bucket; 0 when empty. */
export function livePercentile(counts: ArrayLike<number>, p: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= rank) return Math.sqrt(liveBucketLow(i) * liveBucketLow(i + 1));
  }
  return liveBucketLow(counts.length);
}
