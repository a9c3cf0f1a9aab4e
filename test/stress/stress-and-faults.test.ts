import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haltlab } from '../cli/haltlab-process.ts';

// A short stress run in the suite, and every kind of fault: each ends the run with a message naming
// the actor, keeps the results so far, and leaves no process behind (haltlab() fails on a hang).

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'haltlab-stress-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('haltlab stress', () => {
  it('passes with 64 vCPUs on 2 pCPUs: every interrupt delivered once, no stuck vCPU, memory flat', async () => {
    const r = await haltlab(['stress', '--vcpus', '64', '--duration', '3', '--json', 'stress.json'], { cwd: dir, timeoutMs: 120_000 });
    const report = JSON.parse(readFileSync(join(dir, 'stress.json'), 'utf8'));
    expect(report.reasons).toEqual([]);
    expect(r.code).toBe(0);
    expect(report.verdict).toBe('pass');
    expect(r.stdout).toContain('verdict: PASS');
    const i = report.interrupts;
    expect(i.timer_interrupts_handled).toBeGreaterThan(1000);
    expect(i.device_raised - i.device_delivered).toBeLessThanOrEqual(1);
    expect(report.result.vcpus).toHaveLength(64);
    expect(report.watchdog.checks).toBeGreaterThan(5);
    // Its floor, in the same run: as many bare ES-module workers as its threads (host, 64 vCPUs, the I/O thread).
    expect(report.baseline).toMatchObject({ threads: 66, start_s: expect.any(Number), rss_peak_bytes: expect.any(Number), start_ratio: expect.any(Number), rss_peak_ratio: expect.any(Number) });
    expect(r.stdout).toMatch(/baseline: 66 bare ES-module workers .* start [\d.]+x \(target <= 1.2x\), RSS peak [\d.]+x \(target <= 1.3x/);
  });
});

describe('faults', () => {
  const run = (fault: string) =>
    haltlab(['run', 'irq-wake', '--duration', '1.5', '--quiet', '--fault', fault, '--json', `${fault.replace(/\W/g, '_')}.json`], { cwd: dir, timeoutMs: 60_000 });
  const saved = (fault: string) => JSON.parse(readFileSync(join(dir, `${fault.replace(/\W/g, '_')}.json`), 'utf8'));

  it('an actor that throws fails the run with its message and stack; the others’ results are kept', async () => {
    const r = await run('throw:vcpu1@0.4');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('run failed in vcpu1');
    expect(r.stderr).toContain('injected fault: vcpu1 threw while handling KVM_EXIT_INTR');
    expect(r.stderr).toMatch(/\n\s+at .*vcpu-thread\.ts/); // the worker's stack
    const j = saved('throw:vcpu1@0.4');
    expect(j.status).toBe('failed');
    expect(j.failure.actor).toBe('vcpu1');
    expect(j.vcpus.find((v: { id: number }) => v.id === 0).stats.halt_exits).toBeGreaterThan(0);
  });

  it('an actor that hangs is named, with what it was doing, and its thread is ended', async () => {
    const r = await run('hang:vcpu0@0.4');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/run failed in vcpu0: vcpu0 did not stop within \d+ ms of the stop request: hung\? It was: vcpu0 \(vCPU state/);
    const j = saved('hang:vcpu0@0.4');
    expect(j.status).toBe('failed');
    expect(j.warnings).toContain('vcpu0 returned no results');
    expect(j.vcpus.map((v: { id: number }) => v.id)).toEqual([1]);
  });

  it('an actor whose thread is terminated stops the run with its name', async () => {
    const r = await run('terminate:iothread0@0.4');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('run failed in iothread0: iothread0: worker exited unexpectedly');
    const j = saved('terminate:iothread0@0.4');
    expect(j.warnings[0]).toMatch(/^fault injected: terminate iothread0 at 0\.\d+ s/);
    expect(j.vcpus).toHaveLength(2);
  });

  it('refuses a fault on an actor the VM does not have, before starting', async () => {
    const r = await run('throw:vcpu9@0.4');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no actor "vcpu9" in this VM: it has host, vcpu0, vcpu1, iothread0');
  });
});
