import { describe, expect, it } from 'vitest';
import {
  adjustHaltPollNs,
  clampHaltPollNs,
  kvmVcpuMaxHaltPollNs,
  log2HistBucket,
  type HaltPollCap,
  type HaltPollParams,
} from '../../src/host/kvm/halt-poll.ts';
import { KERNEL_PRESETS, kvmParamDefaults } from '../../src/host/kvm/params.ts';

// Reference §1.5 and §8 (acceptance cases): the adaptive window as pure arithmetic.

const V611: HaltPollParams = { halt_poll_ns: 200_000, halt_poll_ns_grow: 2, halt_poll_ns_grow_start: 10_000, halt_poll_ns_shrink: 2 };
const NO_CAP: HaltPollCap = { override_halt_poll_ns: false, max_halt_poll_ns: 0 };

interface Halt {
  p_at_entry: number;
  polled: boolean;
  success: boolean;
  new_p: number;
}

/** One kvm_vcpu_halt() as the reference's table reads it: clamp, poll for p, adjust. */
function halt(p: number, blockNs: number, params: HaltPollParams, cap = NO_CAP): Halt {
  const max = kvmVcpuMaxHaltPollNs(params, cap);
  const entry = clampHaltPollNs(p, max);
  const polled = entry !== 0;
  const success = polled && blockNs <= entry;
  const { halt_poll_ns } = adjustHaltPollNs({ halt_poll_ns: entry, halt_ns: blockNs, max, valid_wakeup: true }, params);
  return { p_at_entry: entry, polled, success, new_p: halt_poll_ns };
}

function sequence(blocks: number[], params: HaltPollParams, cap = NO_CAP, p0 = 0): Halt[] {
  let p = p0;
  return blocks.map((b) => {
    const h = halt(p, b, params, cap);
    p = h.new_p;
    return h;
  });
}

describe('the adaptive halt-polling window (kvm_vcpu_halt, grow/shrink_halt_poll_ns)', () => {
  it('follows the worked example of reference §1.5 row by row', () => {
    const blocks = [50_000, 50_000, 50_000, 50_000, 50_000, 150_000, 190_000, 1e6, 1e6, 1e6, 1e6, 1e6, 1e6];
    const rows = sequence(blocks, V611);
    expect(rows.map((r) => [r.p_at_entry, r.polled ? (r.success ? 'S' : 'F') : '-', r.new_p])).toEqual([
      [0, '-', 10_000],
      [10_000, 'F', 20_000],
      [20_000, 'F', 40_000],
      [40_000, 'F', 80_000],
      [80_000, 'S', 80_000],
      [80_000, 'F', 160_000],
      [160_000, 'F', 320_000], // grow is not clamped...
      [200_000, 'F', 100_000], // ...the next entry is
      [100_000, 'F', 50_000],
      [50_000, 'F', 25_000],
      [25_000, 'F', 12_500],
      [12_500, 'F', 0], // 6250 < grow_start
      [0, '-', 0], // no shrink at 0, no grow when halt_ns >= max
    ]);
    // The statistics (halt_attempted_poll: rows 2-12, and so on) are the thread-side HaltPath's:
    // test/host/halt-path.test.ts replays this table through it.
  });

  it('shrinks straight to 0 with the pre-6.11 default shrink = 0', () => {
    const pre = { ...V611, ...kvmParamDefaults('6.10') };
    expect(pre.halt_poll_ns_shrink).toBe(0);
    expect(halt(200_000, 1e6, pre).new_p).toBe(0);
    expect(kvmParamDefaults('6.11').halt_poll_ns_shrink).toBe(2);
    expect(Object.keys(KERNEL_PRESETS)).toEqual(expect.arrayContaining(['6.10', '6.11']));
  });

  it('goes 200000, 100000, 50000, 25000, 12500, 0 on blocks longer than max', () => {
    const rows = sequence([1e6, 1e6, 1e6, 1e6, 1e6, 1e6], V611, NO_CAP, 200_000);
    expect(rows.map((r) => r.new_p)).toEqual([100_000, 50_000, 25_000, 12_500, 0, 0]);
  });

  it('does not grow on a block of exactly max (strict <)', () => {
    expect(halt(160_000, 200_000, V611).new_p).toBe(160_000);
    expect(halt(160_000, 199_999, V611).new_p).toBe(320_000);
  });

  it('leaves a window larger than the block alone on success', () => {
    expect(halt(200_000, 150_000, V611)).toMatchObject({ success: true, new_p: 200_000 });
  });

  it('grows p from 0 to grow_start, and grow = 0 means no change', () => {
    expect(halt(0, 50_000, V611).new_p).toBe(10_000);
    expect(halt(5_000, 50_000, V611).new_p).toBe(10_000);
    expect(halt(20_000, 50_000, { ...V611, halt_poll_ns_grow: 0 }).new_p).toBe(20_000);
  });

  it('takes its ceiling from KVM_CAP_HALT_POLL regardless of the global halt_poll_ns', () => {
    const cap = { override_halt_poll_ns: true, max_halt_poll_ns: 50_000 };
    expect(kvmVcpuMaxHaltPollNs({ ...V611, halt_poll_ns: 1e6 }, cap)).toBe(50_000);
    // Entry clamp against the cap, and a block over the cap shrinks.
    expect(halt(80_000, 60_000, { ...V611, halt_poll_ns: 1e6 }, cap)).toMatchObject({ p_at_entry: 50_000, success: false, new_p: 25_000 });
  });

  it('resets the window to 0 when KVM_CAP_HALT_POLL is 0 or halt_poll_ns is 0', () => {
    const cap0 = { override_halt_poll_ns: true, max_halt_poll_ns: 0 };
    expect(halt(80_000, 1_000, V611, cap0)).toMatchObject({ p_at_entry: 0, polled: false, new_p: 0 });
    expect(adjustHaltPollNs({ halt_poll_ns: 80_000, halt_ns: 1_000, max: 0, valid_wakeup: true }, V611)).toEqual({
      halt_poll_ns: 0,
      adjustment: 'reset',
    });
  });

  it('names the adjustment it made, the first matching case of step 7 winning', () => {
    const adj = (cur: number, haltNs: number, max = 200_000) => adjustHaltPollNs({ halt_poll_ns: cur, halt_ns: haltNs, max, valid_wakeup: true }, V611);
    expect(adj(80_000, 80_000)).toEqual({ halt_poll_ns: 80_000, adjustment: 'sweet-spot' }); // halt_ns <= p: not strict
    expect(adj(80_000, 50_000)).toEqual({ halt_poll_ns: 80_000, adjustment: 'sweet-spot' });
    expect(adj(80_000, 80_001)).toEqual({ halt_poll_ns: 160_000, adjustment: 'grow' });
    expect(adj(200_000, 1e6)).toEqual({ halt_poll_ns: 100_000, adjustment: 'shrink' });
    expect(adj(0, 1e6)).toEqual({ halt_poll_ns: 0, adjustment: 'none' }); // fact 7: a zero window is not shrunk
    expect(adj(160_000, 200_000)).toEqual({ halt_poll_ns: 160_000, adjustment: 'none' }); // fact 5
    expect(adj(80_000, 1_000, 0)).toEqual({ halt_poll_ns: 0, adjustment: 'reset' });
  });

  it('keeps a shrunk window of exactly grow_start (only below it gives 0: strict <)', () => {
    expect(halt(20_000, 1e6, V611).new_p).toBe(10_000);
    expect(halt(19_998, 1e6, V611).new_p).toBe(0);
  });

  it('always shrinks on an invalid wakeup', () => {
    expect(adjustHaltPollNs({ halt_poll_ns: 80_000, halt_ns: 1_000, max: 200_000, valid_wakeup: false }, V611)).toEqual({
      halt_poll_ns: 40_000,
      adjustment: 'shrink',
    });
  });

  it('buckets durations as min(fls64(v), 31)', () => {
    expect(log2HistBucket(0)).toBe(0);
    expect(log2HistBucket(1)).toBe(1);
    expect(log2HistBucket(2)).toBe(2);
    expect(log2HistBucket(3)).toBe(2);
    expect(log2HistBucket(32_767)).toBe(15);
    expect(log2HistBucket(32_768)).toBe(16);
    expect(log2HistBucket(50_000)).toBe(16);
    expect(log2HistBucket(2 ** 29)).toBe(30);
    expect(log2HistBucket(2 ** 30 - 1)).toBe(30);
    expect(log2HistBucket(2 ** 30)).toBe(31);
    expect(log2HistBucket(1e12)).toBe(31);
    // Math.log2 rounds 7.999999999999999 up to exactly 3: still [4, 8), bucket 3.
    expect(log2HistBucket(7.999999999999999)).toBe(3);
    for (let k = 1; k < 31; k++) {
      expect(log2HistBucket(2 ** (k - 1))).toBe(k);
      expect(log2HistBucket(2 ** k - 1)).toBe(k);
    }
  });
});
