import { describe, expect, it } from 'vitest';
import { formatBench, measureBench } from '../../bench/wake.ts';

// `npm run bench` as a shape, not as timings: every floor and every target of issue 14 is in the
// JSON under its documented key and printed as a ratio beside its target. A tiny run (the numbers
// mean nothing here).

describe('haltlab bench', () => {
  it('carries every row and every target in its JSON, and prints each target as a ratio with its bound', async () => {
    const r = await measureBench({ samples: 150, rounds: 1, io_seconds: 0.3, exit_iterations: 20_000, kvm: false });
    for (const key of ['blocked', 'polling', 'raw_atomics', 'raw_spin', 'sleeping_timer', 'raw_timed_wait'] as const) {
      expect(r[key], key).toMatchObject({ p50_ns: expect.any(Number), p99_ns: expect.any(Number) });
    }
    expect(r.io_request).toMatchObject({ vm_p50_ns: expect.any(Number), bare_p50_ns: expect.any(Number) });
    expect(r.tracing).toMatchObject({ blocked_p50_traced_vs_untraced: expect.any(Number), polling_p50_traced_vs_untraced: expect.any(Number) });
    expect(r.model_exits.exits_per_s).toBeGreaterThan(0);
    expect(Object.keys(r.ratios)).toEqual(
      expect.arrayContaining([
        'blocked_p50_vs_raw_atomics',
        'blocked_p99_vs_raw_atomics',
        'polling_p50_vs_raw_spin',
        'polling_p99_vs_raw_spin',
        'sleeping_timer_p50_vs_raw_timed_wait',
        'io_request_overhead_vs_raw_atomics',
      ]),
    );
    const targets = Object.fromEntries(r.targets.map((t) => [t.name, t.target]));
    expect(targets).toEqual({
      'polling wake p50': 1.5,
      'polling wake p99': 3,
      'blocked wake p50': 1.2,
      'blocked wake p99': 1.5,
      'sleeping timer p50': 1.3,
      'tracing, blocked p50': 1.05,
      'tracing, polling p50': 1.05,
      'I/O request overhead p50': 4,
      'model exits/s, one vCPU (millions)': 1,
    });
    const text = formatBench(r);
    for (const t of r.targets) expect(text).toMatch(new RegExp(`${t.name.replace(/[()]/g, '\\$&')}\\s+[\\d.]+x? \\(target [<>]= ${t.target}x?\\)`));
    // The JSON round-trips (what --json prints).
    expect(JSON.parse(JSON.stringify(r)).sleeping_timer.p50_ns).toBe(r.sleeping_timer.p50_ns);
  });
});
