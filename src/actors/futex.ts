import { now } from './clock.ts';

/**
 * Wait and wake on one Int32 word: the futex pattern. A waiter reads the word,
 * re-checks its condition, then waits only while the word still holds what it
 * read; a waker changes the word before notifying. So a wake that lands between
 * the check and the wait makes the wait return at once: no lost wakeup.
 */

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Block while word[index] === expected; timeoutNs undefined waits forever. */
export function futexWait(word: Int32Array, index: number, expected: number, timeoutNs?: number): WaitResult {
  return Atomics.wait(word, index, expected, timeoutNs === undefined ? Infinity : Math.max(0, timeoutNs / 1e6));
}

/** Wake up to `count` waiters on word[index]; returns how many were woken. */
export function futexWake(word: Int32Array, index: number, count = Infinity): number {
  return Atomics.notify(word, index, count);
}

/** Bump the word (so a waiter that read the old value cannot sleep) and wake its waiters. */
export function futexBumpAndWake(word: Int32Array, index: number, count = Infinity): number {
  Atomics.add(word, index, 1);
  return Atomics.notify(word, index, count);
}

/**
 * Poll `ready` until it returns true or the clock passes `deadlineNs`. The
 * condition is checked at least once (do-while), and once more after the last
 * clock read, so an event just before the deadline is not missed.
 */
export function pollUntil(ready: () => boolean, deadlineNs: number): boolean {
  do {
    if (ready()) return true;
  } while (now() < deadlineNs);
  return ready();
}

/**
 * Spin for up to spinNs while word[index] === expected, then block on it.
 * Returns 'spun' when the word changed while spinning.
 */
export function spinThenBlock(
  word: Int32Array,
  index: number,
  expected: number,
  spinNs: number,
  timeoutNs?: number,
): 'spun' | WaitResult {
  if (pollUntil(() => Atomics.load(word, index) !== expected, now() + spinNs)) return 'spun';
  return futexWait(word, index, expected, timeoutNs);
}

/**
 * A mutex on one Int32 word (Drepper, "Futexes Are Tricky", mutex 2):
 * 0 unlocked, 1 locked, 2 locked with waiters. Uncontended lock and unlock
 * are one atomic each and no system call.
 */
export class FutexMutex {
  constructor(
    private readonly word: Int32Array,
    private readonly index: number,
  ) {}

  lock(): void {
    let c = Atomics.compareExchange(this.word, this.index, 0, 1);
    if (c === 0) return;
    // Short spin first: critical sections here are a few hundred ns.
    for (let i = 0; i < 100; i++) {
      c = Atomics.compareExchange(this.word, this.index, 0, 1);
      if (c === 0) return;
    }
    if (c !== 2) c = Atomics.exchange(this.word, this.index, 2);
    while (c !== 0) {
      Atomics.wait(this.word, this.index, 2);
      c = Atomics.exchange(this.word, this.index, 2);
    }
  }

  unlock(): void {
    if (Atomics.sub(this.word, this.index, 1) !== 1) {
      Atomics.store(this.word, this.index, 0);
      Atomics.notify(this.word, this.index, 1);
    }
  }
}
