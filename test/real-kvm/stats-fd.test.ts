import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeStats, parseStatsDescriptors, parseStatsHeader, StatsReader } from '../../src/real-kvm/stats-fd.ts';

// KVM's binary stats (KVM_GET_STATS_FD) parsed from recorded bytes: a vCPU's stats file read on a
// real KVM (kvm_amd, Linux 6.1), beside the VM's debugfs files read at the same moment (one vCPU:
// the VM-wide sums are that vCPU's), an independent reading of the same counters.

const recorded = JSON.parse(readFileSync(new URL('./fixtures/vcpu-stats-kvm_amd-6.1.json', import.meta.url), 'utf8')) as {
  stats_fd_base64: string;
  debugfs: Record<string, number>;
};
const bytes = Buffer.from(recorded.stats_fd_base64, 'base64');
const reader = () => new StatsReader((offset, length) => bytes.subarray(offset, offset + length));

describe('the binary stats fd, on bytes recorded from a real KVM', () => {
  it('reads the header and every descriptor: KVM’s generic halt statistics with their types and units', () => {
    const r = reader();
    expect(r.header.name_size).toBe(48);
    expect(r.id).toMatch(/^kvm-\d+\/vcpu-0$/);
    const by = Object.fromEntries(r.descriptors.map((d) => [d.name, d]));
    expect(r.descriptors.slice(0, 11).map((d) => d.name)).toEqual([
      'halt_successful_poll',
      'halt_attempted_poll',
      'halt_poll_invalid',
      'halt_wakeup',
      'halt_poll_success_ns',
      'halt_poll_fail_ns',
      'halt_wait_ns',
      'halt_poll_success_hist',
      'halt_poll_fail_hist',
      'halt_wait_hist',
      'blocking',
    ]);
    expect(by.halt_wakeup).toMatchObject({ type: 'cumulative', unit: 'none', size: 1 });
    expect(by.halt_wait_ns).toMatchObject({ type: 'cumulative', unit: 'seconds', base: 10, exponent: -9 });
    expect(by.halt_wait_hist).toMatchObject({ type: 'log_hist', unit: 'seconds', size: 32 });
    expect(by.blocking).toMatchObject({ type: 'instant', unit: 'boolean' });
    expect(by.exits).toMatchObject({ type: 'cumulative' });
  });

  it('decodes the same values as debugfs gives for the same counters', () => {
    const v = reader().read();
    const scalars = Object.entries(recorded.debugfs).filter(([k]) => typeof v[k] === 'number');
    expect(scalars.length).toBeGreaterThan(20);
    for (const [k, want] of scalars) expect([k, v[k]]).toEqual([k, want]);
    expect(v.halt_exits).toBeGreaterThan(100); // a real workload, not zeros
  });

  it('decodes the log2 histograms as KVM fills them: each sums to its counter', () => {
    const v = reader().read();
    const sum = (k: string) => (v[k] as number[]).reduce((a, b) => a + b, 0);
    expect(sum('halt_poll_success_hist')).toBe(v.halt_successful_poll);
    expect(sum('halt_poll_fail_hist')).toBe((v.halt_attempted_poll as number) - (v.halt_successful_poll as number));
    expect(sum('halt_wait_hist')).toBeGreaterThan(0);
  });

  it('scales by the descriptor: seconds to ns whatever the exponent, counts as they are, base-2 exponents too', () => {
    const desc = (name: string, flags: number, exponent: number, offset: number) => {
      const b = Buffer.alloc(16 + 8);
      b.writeUInt32LE(flags, 0);
      b.writeInt16LE(exponent, 4);
      b.writeUInt16LE(1, 6);
      b.writeUInt32LE(offset, 8);
      b.write(name, 16, 'latin1');
      return b;
    };
    const header = Buffer.alloc(24);
    [0, 8, 3, 24, 24, 24 + 3 * 24].forEach((x, i) => header.writeUInt32LE(x, 4 * i));
    const h = parseStatsHeader(header);
    const seconds = 2 << 4;
    const descs = parseStatsDescriptors(Buffer.concat([desc('us', seconds, -6, 0), desc('pages', 1 << 8, 12, 8), desc('n', 0, 0, 16)]), h);
    const data = Buffer.alloc(24);
    data.writeBigUInt64LE(7n, 0);
    data.writeBigUInt64LE(3n, 8);
    data.writeBigUInt64LE(5n, 16);
    expect(decodeStats(descs, data)).toEqual({ us: 7000, pages: 3 * 4096, n: 5 });
  });

  it('refuses descriptors it does not understand instead of guessing', () => {
    const header = parseStatsHeader(Buffer.from(new Uint32Array([0, 8, 1, 24, 24, 48]).buffer));
    const bad = Buffer.alloc(24);
    bad.writeUInt32LE(0x9, 0); // type 9: none such
    expect(() => parseStatsDescriptors(bad, header)).toThrow(/unknown type/);
  });
});
