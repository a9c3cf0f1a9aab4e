import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { PID } from '../../src/trace/chrome.ts';

// A traced run writes Chrome Trace Event JSON with a track per actor, slices that never overlap on
// a track, and the instants and counters the docs promise.

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'haltlab-trace-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ev {
  ph: string;
  pid: number;
  tid?: number;
  name: string;
  cat?: string;
  ts?: number;
  dur?: number;
  args?: Record<string, unknown>;
}

describe('--trace', () => {
  it('writes a trace that parses, with the tracks, balanced slices, instants and counters', async () => {
    const scenario = parseScenario({ duration_s: 0.8, vm: { vcpus: 2 }, host: { pcpus: 1 }, workload: { kind: 'irq-wake', gap_ns: 50_000 } });
    const vm = createVm(scenario, { trace: true });
    const r = await vm.run();
    expect(r.status).toBe('completed');
    const path = join(dir, 'trace.json');
    const written = vm.writeTrace(path, { test: true });
    expect(written.dropped).toBe(0);
    const t = JSON.parse(readFileSync(path, 'utf8')) as { traceEvents: Ev[]; displayTimeUnit: string; metadata: Record<string, unknown> };
    expect(t.traceEvents).toHaveLength(written.events);
    expect(t.metadata.test).toBe(true);
    const names = t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => `${e.pid}/${e.args?.name}`);
    expect(names).toEqual(
      expect.arrayContaining([`${PID.VCPUS}/vcpu0`, `${PID.VCPUS}/vcpu1`, `${PID.IOTHREADS}/iothread0`, `${PID.HOST}/hrtimer + tick`, `${PID.PCPUS}/pCPU0`]),
    );
    // Slices: on each track, sorted by start, each ends before the next starts.
    const tracks = new Map<string, Ev[]>();
    for (const e of t.traceEvents.filter((x) => x.ph === 'X')) {
      const k = `${e.pid}/${e.tid}`;
      tracks.set(k, [...(tracks.get(k) ?? []), e]);
    }
    expect([...tracks.keys()]).toEqual(expect.arrayContaining([`${PID.VCPUS}/0`, `${PID.VCPUS}/1`, `${PID.PCPUS}/0`]));
    for (const [k, slices] of tracks) {
      slices.sort((a, b) => a.ts! - b.ts!);
      for (let i = 1; i < slices.length; i++) {
        const prevEnd = slices[i - 1].ts! + slices[i - 1].dur!;
        if (slices[i].ts! < prevEnd - 0.002) throw new Error(`overlapping slices on ${k} at ${slices[i].ts}`);
      }
      for (const s of slices) expect(s.dur).toBeGreaterThanOrEqual(0);
    }
    // One pCPU for two vCPUs: it changes hands, and never holds two at once (checked above).
    const pcpuSlices = tracks.get(`${PID.PCPUS}/0`)!;
    expect(new Set(pcpuSlices.map((s) => s.name))).toEqual(new Set(['vcpu0', 'vcpu1']));
    // vCPU states include the ones this workload goes through.
    const states = new Set(t.traceEvents.filter((e) => e.ph === 'X' && e.pid === PID.VCPUS).map((e) => e.name));
    for (const s of ['guest', 'polling', 'blocked']) expect(states).toContain(s);
    // Instants: every injection, every raise; and counters for halt_poll_ns.
    const injected = r.vcpus.reduce((a, v) => a + (v.stats.irq_injections as number), 0);
    const injects = t.traceEvents.filter((e) => e.ph === 'i' && e.name.startsWith('inject'));
    expect(injected - injects.length).toBeGreaterThanOrEqual(0);
    expect(injected - injects.length).toBeLessThanOrEqual(1);
    expect(t.traceEvents.filter((e) => e.ph === 'i' && e.name.startsWith('raise')).length).toBe(r.host.device_interrupts_raised);
    expect(t.traceEvents.some((e) => e.ph === 'i' && e.name === 'exit HLT')).toBe(true);
    expect(t.traceEvents.some((e) => e.ph === 'C' && e.name === 'vcpu0 halt_poll_ns')).toBe(true);
  });

  it('costs nothing when off: no rings are allocated', () => {
    const vm = createVm(parseScenario({}));
    expect('trace' in vm.mem.layout.regions).toBe(false);
    expect(() => vm.writeTrace(join(dir, 'x.json'))).toThrow(/not created with/);
  });
});
