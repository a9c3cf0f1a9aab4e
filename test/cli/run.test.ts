import { describe, expect, it } from 'vitest';
import { haltlab } from './haltlab-process.ts';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The command line as a user runs it: a separate process, its exit code, its output and files.

describe('haltlab run', () => {
  it('prints the per-vCPU table and writes the JSON with the stable keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haltlab-cli-'));
    try {
      // With a knob nothing in timer-latency reads: it runs, and says so.
      const r = await haltlab(['run', 'timer-latency', '--duration', '1', '--vcpus', '1', '--set', 'poll_max_ns=0', '--json', 'out.json'], { cwd: dir });
      expect(r.code).toBe(0);
      const inert = "vmm.iothread.poll_max_ns is set but does nothing here: only dsync-io's I/O thread polls; the timer-latency workload's does not";
      expect(r.stdout).toContain(`warning: ${inert}`);
      expect(r.stdout).toContain('halt_successful_poll');
      expect(r.stdout).toMatch(/p99\.9/);
      const j = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8'));
      expect(j.status).toBe('completed');
      expect(j.warnings).toContain(inert);
      const v = j.vcpus[0];
      for (const k of ['p50', 'p90', 'p99', 'p999', 'max', 'count']) {
        expect(typeof v.wake_latency_ns[k]).toBe('number');
        expect(typeof v.timer_lateness_ns[k]).toBe('number');
      }
      for (const k of ['halt_exits', 'halt_successful_poll', 'halt_attempted_poll', 'halt_poll_invalid', 'halt_wakeup', 'halt_poll_success_ns', 'halt_poll_fail_ns', 'halt_wait_ns']) {
        expect(typeof v.stats[k]).toBe('number');
      }
      for (const k of ['halt_poll_success_hist', 'halt_poll_fail_hist', 'halt_wait_hist']) expect(v.stats[k]).toHaveLength(32);
      expect(j.scenario.host.kvm).toEqual({});
      expect(typeof v.halt_poll_ns).toBe('number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops on Ctrl-C, prints what it measured, writes nothing, and exits 130', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haltlab-cli-'));
    try {
      const r = await haltlab(['run', 'timer-latency', '--duration', '60'], { cwd: dir, sigintAfterMs: 3000 });
      expect(r.code).toBe(130);
      expect(r.stdout).toContain('STATUS: interrupted');
      expect(r.stdout).toMatch(/vcpu0 +[1-9]\d* /); // halt_exits measured before the stop
      expect(r.stderr).not.toContain('saved');
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('saves a Ctrl-C run to the file --json names, marked partial', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haltlab-cli-'));
    try {
      const r = await haltlab(['run', 'timer-latency', '--duration', '60', '--json', 'partial.json'], { cwd: dir, sigintAfterMs: 3000 });
      expect(r.code).toBe(130);
      expect(r.stderr).toContain('(interrupted, partial) saved to partial.json');
      const j = JSON.parse(readFileSync(join(dir, 'partial.json'), 'utf8'));
      expect(j.status).toBe('interrupted');
      expect(j.wall_s).toBeLessThan(30);
      expect(j.vcpus[0].stats.halt_exits).toBeGreaterThan(0);
      expect(readdirSync(dir)).toEqual(['partial.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad input with a clear message and a non-zero exit, before starting any thread', async () => {
    const bad = await haltlab(['run', 'timer-latency', '--vcpus', 'many']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--vcpus takes a number, got "many"');
    const range = await haltlab(['run', 'timer-latency', '--vcpus', '0']);
    expect(range.code).toBe(2);
    expect(range.stderr).toContain('vm.vcpus');
    expect(range.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const unknown = await haltlab(['run', 'no-such-scenario']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown scenario');
    expect(unknown.stderr).toContain('"no-such-scenario" is neither a built-in scenario');
  });
});
