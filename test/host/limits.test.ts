import { describe, expect, it } from 'vitest';
import { checkLimits, estimateRssBytes } from '../../src/host/limits.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';
import { haltlab } from '../cli/haltlab-process.ts';

describe('limits', () => {
  it('refuses a run that would not fit in memory, saying how much it needs', () => {
    const s = parseScenario({ vm: { vcpus: 256 }, workload: { kind: 'mixed' } });
    expect(estimateRssBytes(s, false)).toBeGreaterThan(256 * 40 * 2 ** 20);
    expect(() => checkLimits(s, { freeBytes: 2 * 2 ** 30 })).toThrow(/cannot run[\s\S]*needs about 12\.\d GB of memory[\s\S]*2\.0 GB is free: use fewer vCPUs/);
    expect(() => checkLimits(s, { freeBytes: 64 * 2 ** 30 })).not.toThrow();
  });

  it('refuses more vCPUs than the maximum before starting any thread', async () => {
    const r = await haltlab(['stress', '--vcpus', '300']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('vm.vcpus: Too big: expected number to be <=256, got 300');
  });
});
