import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createVm } from '../../src/host/vm.ts';
import { runViolations } from '../../src/host/invariants.ts';
import { parseScenario, type ScenarioInput } from '../../src/scenarios/schema.ts';
import { expectCompleted } from './invariants.ts';

// dsync-io on real threads: vCPUs notify a virtio-blk queue (an ioeventfd, no exit to the VMM), an
// I/O thread hands each request to the block backend's piscina pool through a shared ring and raises the completion
// interrupt. Requests and interrupts must all add up; the backend's temporary file must go.

const blkDirs = () => new Set(readdirSync(tmpdir()).filter((d) => d.startsWith('haltlab-blk-')));
const run = (input: ScenarioInput) => createVm(parseScenario({ duration_s: 0.8, vm: { vcpus: 2 }, ...input })).run();

describe('dsync-io', () => {
  it('writes to a real temporary file with O_DSYNC, every request completed and seen once, and removes the file', async () => {
    const before = blkDirs();
    const r = await run({ workload: { kind: 'dsync-io', backend: 'file' } });
    expectCompleted(r);
    expect(runViolations(r)).toEqual([]);
    expect(r.block!.requests_completed).toBeGreaterThan(20);
    for (const v of r.vcpus) {
      expect(v.exit_reasons.IO_INSTRUCTION).toBe(v.stats.io_exits);
      expect(v.exit_reasons.IO_INSTRUCTION).toBeGreaterThan(5);
    }
    expect([...blkDirs()].filter((d) => !before.has(d))).toEqual([]);
  });

  it('on the synthetic backend, with each guest idle mode, keeps the same books', async () => {
    for (const idle of ['halt', 'poll', 'haltpoll'] as const) {
      const r = await run({ duration_s: 0.6, guest: { idle }, workload: { kind: 'dsync-io', backend: 'synthetic', synthetic_latency_ns: 20_000 } });
      expectCompleted(r);
      expect(runViolations(r), idle).toEqual([]);
      expect(r.block!.requests_completed, idle).toBeGreaterThan(50);
      // The device serves each request for its setting, never less (HdrHistogram keeps 3 digits).
      expect(r.block!.service_ns.min, idle).toBeGreaterThanOrEqual(20_000 * 0.999);
      // Each completion's service time comes back on the completion ring ahead of it.
      expect(r.block!.service_ns.count, idle).toBeGreaterThanOrEqual(r.block!.requests_completed);
      // idle=poll never halts; the others halt between requests.
      const halts = r.vcpus.reduce((a, v) => a + v.exit_reasons.HLT, 0);
      if (idle === 'poll') expect(halts).toBe(0);
      else expect(halts).toBeGreaterThan(0);
    }
  });

  it('runs the same loop on bare metal: plain threads, no VM, every write counted once, the file removed', async () => {
    const before = blkDirs();
    const r = await run({ duration_s: 0.5, workload: { kind: 'dsync-io', backend: 'file', bare_metal: true } });
    expectCompleted(r);
    expect(runViolations(r)).toEqual([]);
    expect(r.vcpus).toEqual([]);
    expect(r.block).toMatchObject({ bare_metal: true, iothread: null });
    expect(r.block!.requests_completed).toBeGreaterThan(20);
    expect(r.threads.map((t) => t.thread)).toEqual(['cpu0', 'cpu1']);
    expect([...blkDirs()].filter((d) => !before.has(d))).toEqual([]);
  });

  it('removes the temporary file when an actor fails mid-run', async () => {
    const before = blkDirs();
    const r = await createVm(parseScenario({ duration_s: 3, vm: { vcpus: 1 }, workload: { kind: 'dsync-io' } })).run({
      faults: [{ kind: 'throw', actor: 'iothread0', at_s: 0.3 }],
    });
    expect(r.status).toBe('failed');
    expect(r.failure?.actor).toBe('iothread0');
    expect([...blkDirs()].filter((d) => !before.has(d))).toEqual([]);
  });
});
