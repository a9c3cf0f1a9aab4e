import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { invariantsLine, writeFindings } from '../../src/findings/report.ts';
import type { Measured } from '../../src/findings/run.ts';
import { probeHostKvm, verdict } from '../../src/real-kvm/host-kvm.ts';

// The findings report end to end on two short findings: it regenerates the file and its charts
// from its own runs, each section with its claim, command, table and verdict.

const dir = mkdtempSync(join(tmpdir(), 'haltlab-findings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run findings', () => {
  it('writes the report and its charts from the runs it makes', async () => {
    const out = join(dir, 'findings.md');
    const r = await writeFindings({ out, scale: 0.15, signal: new AbortController().signal, only: ['sim-loop', 'lazy-tscdeadline'] });
    expect(r).toMatchObject({ status: 'completed', findings: 2, failed: 0, runs: 7 }); // 3 + 4 configurations, one run each
    const md = readFileSync(out, 'utf8');
    expect(md).toMatch(/^# Findings/);
    expect(md).toContain('## 1. The single-threaded simulation loop');
    expect(md).toContain('seeds/001_b0e25e78d37c05a0.txt');
    expect(md).toContain('haltlab compare mode=exit-on-wfi mode=watchdog mode=kernel --scenario sim-loop');
    expect(md.match(/\*\*Verdict\.\*\*/g)).toHaveLength(2);
    // Every run's invariants checked and reported, per finding and in the header.
    expect(md).toContain('**Invariants** (src/host/invariants.ts), checked on each of the 3 runs: all held.');
    expect(md).toContain('**Invariants** (src/host/invariants.ts), checked on each of the 4 runs: all held.');
    expect(md).toContain('they held in all 7 runs');
    // Parameters from the scenarios as run, not literals.
    expect(md).toContain('An arm64 guest works 50 µs per 1 ms tick');
    expect(md).toContain('(1 ms ahead, 20 µs apart)');
    expect(md).not.toContain('Not measured');
    expect(readdirSync(join(dir, 'findings')).sort()).toEqual(['lazy-tscdeadline.svg', 'sim-loop.svg']);
    expect(readFileSync(join(dir, 'findings', 'sim-loop.svg'), 'utf8')).toMatch(/^<svg /);
  });

  it('puts real KVM beside the model where /dev/kvm is usable, and elsewhere says why in its place', async () => {
    const out = join(dir, 'real-kvm.md');
    const host = probeHostKvm();
    const r = await writeFindings({ out, scale: 0.15, signal: new AbortController().signal, only: ['real-kvm'] });
    const md = readFileSync(out, 'utf8');
    expect(md).toContain('## 1. The model beside real KVM');
    expect(md).toContain('haltlab compare poll-1ms poll no-poll --scenario irq-wake --set vcpus=1 --backend model,kvm --duration 0.45');
    if (host.usable) {
      expect(r).toMatchObject({ status: 'completed', findings: 1, failed: 0, skipped: 0, runs: 14 });
      expect(md).toContain('| scenario, 1 vCPU | policy | figure | model | real KVM | real KVM / model | band |');
      expect(md).toMatch(/\d+ of 28 figures agree/);
      expect(md).toContain('checked on each of the 14 runs');
    } else {
      // This machine: the report is still written, the finding names what is missing.
      expect(r).toMatchObject({ status: 'completed', findings: 0, failed: 0, skipped: 1, runs: 0 });
      expect(md).toContain(`**Not measured in this run**: this machine has no usable real KVM (${verdict(host)}`);
      expect(md).not.toContain('**Verdict.**');
    }
  }, 180_000); // 14 runs where /dev/kvm is usable: VMs and threads started one after another

  it('lists each broken invariant with its run, vCPU and figures', () => {
    const m = (label: string, violations: Measured['violations']) => ({ config: { label, scenario: 'x', policy: 'p' }, result: {} as Measured['result'], violations });
    expect(invariantsLine([m('a', []), m('b', [])])).toBe('**Invariants** (src/host/invariants.ts), checked on each of the 2 runs: all held.');
    expect(invariantsLine([m('a', []), m('lazy', [{ vcpu: 1, invariant: 'no timer early', detail: '3 early samples' }, { vcpu: null, invariant: 'every vCPU returned results', detail: '1 of 2' }])])).toBe(
      '**Invariants** (src/host/invariants.ts), checked on each of the 2 runs: broken in 1: lazy vcpu1: no timer early (3 early samples); lazy: every vCPU returned results (1 of 2).',
    );
  });

  it('refuses an unknown finding before running anything', async () => {
    await expect(writeFindings({ out: join(dir, 'x.md'), scale: 0.15, signal: new AbortController().signal, only: ['nope'] })).rejects.toThrow(/no finding nope/);
    expect(existsSync(join(dir, 'x.md'))).toBe(false);
  });

  it('never deletes what it did not make: a folder named like the report keeps its files', async () => {
    const out = join(dir, 'kept.md');
    mkdirSync(join(dir, 'kept'));
    writeFileSync(join(dir, 'kept', 'mine.txt'), 'not haltlab\'s');
    const r = await writeFindings({ out, scale: 0.15, signal: new AbortController().signal, only: ['sim-loop'] });
    expect(r.status).toBe('completed');
    expect(readdirSync(join(dir, 'kept')).sort()).toEqual(['mine.txt', 'sim-loop.svg']);
    expect(readFileSync(join(dir, 'kept', 'mine.txt'), 'utf8')).toBe('not haltlab\'s');
  });

  it('refuses a report path that is not a .md file, a folder, or in a missing folder, before running anything', async () => {
    const signal = new AbortController().signal;
    mkdirSync(join(dir, 'docs'));
    writeFileSync(join(dir, 'docs', 'precious.txt'), 'x');
    for (const [out, why] of [
      [join(dir, 'docs'), /ending in \.md/],
      [dir, /ending in \.md/],
      [join(dir, 'missing', 'f.md'), /does not exist/],
    ] as const) {
      await expect(writeFindings({ out, scale: 0.15, signal, only: ['sim-loop'] })).rejects.toThrow(why);
    }
    mkdirSync(join(dir, 'folder.md'));
    await expect(writeFindings({ out: join(dir, 'folder.md'), scale: 0.15, signal, only: ['sim-loop'] })).rejects.toThrow(/a folder, not a file/);
    expect(readdirSync(join(dir, 'docs'))).toEqual(['precious.txt']);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });
});
