import { expect } from 'vitest';
import type { RunResult, VcpuResult } from '../../src/host/results.ts';
import { runViolations, vcpuViolations } from '../../src/host/invariants.ts';

// Invariants every run must satisfy, whatever the timing (src/host/invariants.ts).

export function expectHaltStatsAddUp(v: VcpuResult): void {
  expect(vcpuViolations(v)).toEqual([]);
}

export function expectCompleted(r: RunResult): void {
  expect(r.failure).toBeNull();
  expect(r.status).toBe('completed');
  expect(r.vcpus).toHaveLength(r.block?.bare_metal ? 0 : r.scenario.vm.vcpus);
  expect(runViolations(r)).toEqual([]);
}
