import { now } from './clock.ts';
import { futexWait } from './futex.ts';

/**
 * A single-producer single-consumer ring of fixed-width records (Float64
 * words) in shared memory: messages from one actor to another without a
 * system call on the fast path. The producer owns `head`, the consumer owns
 * `tail`, each on its own cache line. Record data is written with plain stores
 * and published by the atomic store of `head` (a release in the JS memory
 * model); the consumer's atomic load of `head` acquires it.
 *
 * A side that must wait raises its `waiting` flag, re-checks, then sleeps on
 * the other side's index word; the other side notifies only when it sees the
 * flag, so a ring nobody waits on costs no Atomics.notify.
 */

const I32_PER_LINE = 16;
/** Int32 word indexes in the header: two cache lines, one per side. */
const H = {
  head: 0, // next sequence number the producer writes
  dropped: 1, // records refused because the ring was full (tryPush)
  producerWaiting: 2,
  tail: I32_PER_LINE, // next sequence number the consumer reads
  consumerWaiting: I32_PER_LINE + 1,
} as const;
const HEADER_BYTES = 2 * I32_PER_LINE * 4;

export interface RingRegion {
  readonly sab: SharedArrayBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
}

export class Ring {
  /** Bytes a ring of `capacity` records of `width` Float64 words needs; capacity must be a power of two. */
  static byteLength(capacity: number, width: number): number {
    Ring.check(capacity, width);
    return HEADER_BYTES + capacity * width * 8;
  }

  private static check(capacity: number, width: number): void {
    if (!Number.isInteger(capacity) || capacity < 2 || capacity > 2 ** 24 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two in [2, 2^24], got ${capacity}`);
    }
    if (!Number.isInteger(width) || width < 1) throw new RangeError(`ring record width must be a positive integer, got ${width}`);
  }

  private readonly h: Int32Array;
  private readonly data: Float64Array;
  private readonly mask: number;
  /**
   * Producer side: the sequence number up to which the ring is known to have room (the consumer's
   * tail as last read, plus the capacity). The tail lives on the consumer's cache line; reading it
   * only when this is reached keeps a push off that line (the classic cached index of an SPSC ring).
   */
  private roomUntil: number;

  constructor(
    region: RingRegion,
    readonly capacity: number,
    readonly width: number,
  ) {
    if (region.byteOffset % 64 !== 0) throw new RangeError('ring region must be cache-line aligned');
    if (region.byteLength < Ring.byteLength(capacity, width)) {
      throw new RangeError(`ring region of ${region.byteLength} bytes is smaller than the ${Ring.byteLength(capacity, width)} it needs`);
    }
    this.h = new Int32Array(region.sab, region.byteOffset, 2 * I32_PER_LINE);
    this.data = new Float64Array(region.sab, region.byteOffset + HEADER_BYTES, capacity * width);
    this.mask = capacity - 1;
    this.roomUntil = this.h[H.head]; // unknown: the first push reads the tail
  }

  /** Producer: is there room for record `head`? Reads the consumer's tail only when the cached room is used up. */
  private hasRoom(head: number): boolean {
    if (((head - this.roomUntil) | 0) < 0) return true;
    this.roomUntil = (Atomics.load(this.h, H.tail) + this.capacity) | 0;
    return ((head - this.roomUntil) | 0) < 0;
  }

  /** Records published and not yet consumed. */
  get size(): number {
    return (Atomics.load(this.h, H.head) - Atomics.load(this.h, H.tail)) | 0;
  }

  /** Records the producer could not push because the ring was full. */
  get dropped(): number {
    return Atomics.load(this.h, H.dropped);
  }

  /** Producer: append one record unless the ring is full (then count it as dropped). Never blocks. */
  tryPush(record: ArrayLike<number>): boolean {
    const head = this.h[H.head]; // only this thread writes it
    if (!this.hasRoom(head)) {
      Atomics.add(this.h, H.dropped, 1);
      return false;
    }
    this.write(head, record);
    this.publish(H.head, (head + 1) | 0, H.consumerWaiting);
    return true;
  }

  /** Producer: append one record, sleeping while the ring is full. False if `timeoutNs` passed first. */
  push(record: ArrayLike<number>, timeoutNs?: number): boolean {
    const head = this.h[H.head];
    if (!this.await(H.tail, H.producerWaiting, (tail) => ((head - tail) | 0) < this.capacity, timeoutNs)) return false;
    this.write(head, record);
    this.publish(H.head, (head + 1) | 0, H.consumerWaiting);
    return true;
  }

  /** Consumer: take the oldest record into `out` if there is one. Never blocks. */
  tryPop(out: Float64Array): boolean {
    const tail = this.h[H.tail]; // only this thread writes it
    if (Atomics.load(this.h, H.head) === tail) return false;
    this.read(tail, out);
    this.publish(H.tail, (tail + 1) | 0, H.producerWaiting);
    return true;
  }

  /** Consumer: take the oldest record, sleeping while the ring is empty. False if `timeoutNs` passed first. */
  pop(out: Float64Array, timeoutNs?: number): boolean {
    const tail = this.h[H.tail];
    if (!this.await(H.head, H.consumerWaiting, (head) => head !== tail, timeoutNs)) return false;
    this.read(tail, out);
    this.publish(H.tail, (tail + 1) | 0, H.producerWaiting);
    return true;
  }

  /** Consumer: hand every published record to `each` (the view is reused), oldest first; returns how many. */
  drain(each: (record: Float64Array) => void): number {
    const head = Atomics.load(this.h, H.head);
    let tail = this.h[H.tail];
    let n = 0;
    for (; tail !== head; tail = (tail + 1) | 0, n++) {
      const at = (tail & this.mask) * this.width;
      each(this.data.subarray(at, at + this.width));
    }
    if (n) this.publish(H.tail, tail, H.producerWaiting);
    return n;
  }

  private write(seq: number, record: ArrayLike<number>): void {
    const at = (seq & this.mask) * this.width;
    for (let i = 0; i < this.width; i++) this.data[at + i] = record[i] ?? 0;
  }

  private read(seq: number, out: Float64Array): void {
    const at = (seq & this.mask) * this.width;
    for (let i = 0; i < this.width; i++) out[i] = this.data[at + i];
  }

  /** Store the new index, then wake the other side only if it said it waits (Dekker with its flag). */
  private publish(index: number, value: number, otherWaiting: number): void {
    Atomics.store(this.h, index, value);
    if (Atomics.load(this.h, otherWaiting) !== 0) Atomics.notify(this.h, index);
  }

  /** Wait until ok(word) holds: raise our flag, re-check, sleep on the word while it is unchanged. */
  private await(word: number, waitingFlag: number, ok: (value: number) => boolean, timeoutNs?: number): boolean {
    let v = Atomics.load(this.h, word);
    if (ok(v)) return true;
    const deadline = timeoutNs === undefined ? Infinity : now() + timeoutNs;
    Atomics.store(this.h, waitingFlag, 1);
    try {
      for (;;) {
        v = Atomics.load(this.h, word);
        if (ok(v)) return true;
        const left = deadline - now();
        if (left <= 0) return false;
        futexWait(this.h, word, v, Number.isFinite(left) ? left : undefined);
      }
    } finally {
      Atomics.store(this.h, waitingFlag, 0);
    }
  }
}
