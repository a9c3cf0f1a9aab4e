import { describe, expect, it } from 'vitest';
import { adjustPollingTime, AIO_POLL_DEFAULTS } from '../../src/host/vmm/aio-poll.ts';

// QEMU's adjust_polling_time(), reference §5.1.

describe('IOThread adaptive polling', () => {
  it('grows 0 -> 4000 -> 8000 -> 16000 -> 32000 -> 32768 on short blocks, with the defaults', () => {
    const seq = [0];
    // Each aio_poll blocks a little longer than poll.ns, but less than poll-max-ns.
    for (let i = 0; i < 6; i++) seq.push(adjustPollingTime(seq.at(-1)!, Math.min(seq.at(-1)! + 1000, 32767), AIO_POLL_DEFAULTS));
    expect(seq).toEqual([0, 4000, 8000, 16000, 32000, 32768, 32768]);
  });

  it('leaves poll.ns alone when the block fit in it, and drops to 0 after a block longer than poll-max-ns', () => {
    expect(adjustPollingTime(16000, 9000, AIO_POLL_DEFAULTS)).toBe(16000);
    expect(adjustPollingTime(32768, 40000, AIO_POLL_DEFAULTS)).toBe(0);
  });

  it('shrinks by poll-shrink and grows by poll-grow when they are set', () => {
    const p = { poll_max_ns: 100_000, poll_grow: 3, poll_shrink: 4 };
    expect(adjustPollingTime(8000, 200_000, p)).toBe(2000);
    expect(adjustPollingTime(8000, 9000, p)).toBe(24000);
    expect(adjustPollingTime(0, 9000, p)).toBe(4000);
  });

  it('never grows past poll-max-ns, and does not grow on a block of poll-max-ns or more', () => {
    const p = { poll_max_ns: 10_000, poll_grow: 0, poll_shrink: 0 };
    expect(adjustPollingTime(8000, 9000, p)).toBe(10_000);
    expect(adjustPollingTime(8000, 10_000, p)).toBe(8000);
  });
});
