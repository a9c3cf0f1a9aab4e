import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFindings } from '../../src/findings/report.ts';

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
    expect(md).not.toContain('Not measured');
    expect(readdirSync(join(dir, 'findings')).sort()).toEqual(['lazy-tscdeadline.svg', 'sim-loop.svg']);
    expect(readFileSync(join(dir, 'findings', 'sim-loop.svg'), 'utf8')).toMatch(/^<svg /);
  });

  it('refuses an unknown finding before running anything', async () => {
    await expect(writeFindings({ out: join(dir, 'x.md'), scale: 0.15, signal: new AbortController().signal, only: ['nope'] })).rejects.toThrow(/no finding nope/);
    expect(existsSync(join(dir, 'x.md'))).toBe(false);
  });
});
