import { describe, expect, it } from 'vitest';
import {
  adjustPollLimit,
  CPUIDLE_STATE,
  HALTPOLL_DEFAULTS,
  haltpollReflect,
  haltpollSelect,
  newHaltpollDevice,
} from '../../src/guest/kernel/haltpoll.ts';

// The guest cpuidle-haltpoll governor against reference §4.3.

const P = HALTPOLL_DEFAULTS;
const { POLL, HALT } = CPUIDLE_STATE;

describe('the haltpoll governor', () => {
  it('selects: HALT with a zero window, HALT after a poll that timed out, POLL after an event or after a halt', () => {
    const dev = newHaltpollDevice();
    expect(haltpollSelect(dev)).toBe(HALT); // poll_limit_ns == 0
    dev.poll_limit_ns = 50_000;
    dev.last_state_idx = POLL;
    dev.poll_time_limit = true;
    expect(haltpollSelect(dev)).toBe(HALT);
    dev.poll_time_limit = false;
    expect(haltpollSelect(dev)).toBe(POLL);
    dev.last_state_idx = HALT;
    expect(haltpollSelect(dev)).toBe(POLL);
  });

  it('grows 0 -> 50000 -> 100000 -> 200000 (capped), then long blocks give 100000 -> 50000 -> 0', () => {
    const dev = newHaltpollDevice();
    const after = (block: number) => {
      haltpollReflect(dev, HALT, block, P);
      return dev.poll_limit_ns;
    };
    expect([after(120_000), after(120_000), after(150_000), after(200_000)]).toEqual([50_000, 100_000, 200_000, 200_000]);
    // A block within the window leaves it alone; so does a poll (only halts adapt).
    expect(after(150_000)).toBe(200_000);
    haltpollReflect(dev, POLL, 5_000_000, P);
    expect(dev.poll_limit_ns).toBe(200_000);
    expect([after(1e6), after(1e6), after(1e6)]).toEqual([100_000, 50_000, 0]); // 25000 < grow_start -> 0 (6.9+)
  });

  it('grows on a block equal to the ceiling (<=, where KVM needs <) and caps the growth', () => {
    const dev = { ...newHaltpollDevice(), poll_limit_ns: 150_000 };
    adjustPollLimit(dev, 200_000, P);
    expect(dev.poll_limit_ns).toBe(200_000);
  });

  it('shrinks to 0 with shrink = 0, and not at all without allow_shrink', () => {
    const dev = { ...newHaltpollDevice(), poll_limit_ns: 200_000 };
    adjustPollLimit(dev, 1e6, { ...P, guest_halt_poll_allow_shrink: false });
    expect(dev.poll_limit_ns).toBe(200_000);
    adjustPollLimit(dev, 1e6, { ...P, guest_halt_poll_shrink: 0 });
    expect(dev.poll_limit_ns).toBe(0);
  });
});
