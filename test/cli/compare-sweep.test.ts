import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { haltlab } from './haltlab-process.ts';

// compare and sweep on short runs, through the command line.

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'haltlab-cmp-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('haltlab compare', () => {
  it('runs each policy with the same seed and marks the best cell of each row', async () => {
    const r = await haltlab(['compare', 'poll', 'no-poll', '--scenario', 'irq-wake', '--interval', '50', '--vcpus', '1', '--duration', '1', '--json', 'cmp.json'], {
      cwd: dir,
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(0);
    // The policies head their columns; one defined by overrides says what they are.
    expect(r.stdout).toMatch(/^ +poll +no-poll $/m);
    expect(r.stdout).toContain('  no-poll: halt_poll_ns=0');
    // Rows zero under every policy are left out, and the table says so.
    expect(r.stdout).not.toContain('MWAIT yields');
    expect(r.stdout).toMatch(/\(\d+ rows zero under every policy not shown: --all shows them\)/);
    const c = JSON.parse(readFileSync(join(dir, 'cmp.json'), 'utf8'));
    expect(c.status).toBe('completed');
    expect(c.policies.map((p: { label: string }) => p.label)).toEqual(['poll', 'no-poll']);
    expect(c.policies[0].scenario.workload.seed).toBe(c.policies[1].scenario.workload.seed);
    expect(c.policies[1].scenario.host.kvm.halt_poll_ns).toBe(0);
    const row = (metric: string, section: string) => c.rows.find((x: { metric: string; section: string }) => x.metric === metric && x.section === section);
    // Gaps of 25-75 µs fit the window: polling wakes a vCPU in ~1 µs, sleeping takes ~10: a wide margin.
    expect(row('p50', 'wake latency').best).toEqual([0]);
    expect(row('per vCPU, pCPU held idle included', 'host CPU').best).toEqual([1]);
    expect(c.rows.some((x: { metric: string }) => x.metric === 'MWAIT yields')).toBe(true); // the JSON keeps every row
    expect(row('halt_successful_poll', 'halt').values[1]).toBe(0);
  });
});

describe('haltlab compare, a policy that changes nothing', () => {
  it('is refused before any thread starts, naming the inert knob and why', async () => {
    const r = await haltlab(['compare', 'poll', 'iothread-no-poll', '--duration', '1'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policy "iothread-no-poll" changes nothing in this scenario: poll_max_ns (vmm.iothread.poll_max_ns): only dsync-io\'s I/O thread polls');
    expect(r.stderr).not.toContain('policy 1/');
  });
});

describe('haltlab compare, interrupted', () => {
  it('stops on Ctrl-C and saves the policies measured so far where --json says', async () => {
    const r = await haltlab(['compare', 'poll', 'no-poll', '--vcpus', '1', '--duration', '30', '--json', 'stopped.json'], { cwd: dir, sigintAfterMs: 3000, timeoutMs: 30_000 });
    expect(r.code).toBe(130);
    expect(r.stdout).toContain('STATUS: interrupted');
    const c = JSON.parse(readFileSync(join(dir, 'stopped.json'), 'utf8'));
    expect(c.status).toBe('interrupted');
    expect(c.policies).toHaveLength(1);
    expect(c.policies[0].result.status).toBe('interrupted');
    expect(c.policies[0].result.vcpus[0].stats.halt_exits).toBeGreaterThan(0);
  });
});

describe('haltlab sweep', () => {
  it('writes the curve as JSON and a self-contained SVG', async () => {
    const r = await haltlab(
      ['sweep', 'halt_poll_ns=0,100000,400000', '--scenario', 'irq-wake', '--vcpus', '1', '--duration', '0.8', '--cpu-budget', '50', '--json', 's.json', '--svg', 's.svg'],
      { cwd: dir, timeoutMs: 60_000 },
    );
    expect(r.code).toBe(0);
    const s = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'));
    expect(s.points.map((p: { value: number }) => p.value)).toEqual([0, 100_000, 400_000]);
    expect(s.metric).toBe('wake_latency');
    for (const p of s.points) expect(p.samples).toBeGreaterThan(100);
    // No polling is the cheapest point; polling the longest is the fastest.
    expect(s.points[0].vcpu_thread_cpu_pct).toBeLessThan(s.points[2].vcpu_thread_cpu_pct);
    expect(s.points[2].latency_p50_us).toBeLessThan(s.points[0].latency_p50_us);
    expect(s.within_budget).not.toBeNull();
    expect(existsSync(join(dir, 's.svg'))).toBe(true);
    const svg = readFileSync(join(dir, 's.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<title>halt_poll_ns=/g)).toHaveLength(3);
    // The knee line says what the JSON says: where the knee is, or that there is none.
    expect(r.stdout).toContain(s.knee ? `knee: halt_poll_ns=${s.knee.value} (` : 'knee: none (');
  });
});
