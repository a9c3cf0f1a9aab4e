import { expect } from 'vitest';
import type { RunResult, VcpuResult } from '../../src/host/results.ts';
import { EXIT_REASONS } from '../../src/host/kvm/stats.ts';

// Invariants every run must satisfy, whatever the timing: the statistics add up.

const n = (v: VcpuResult, k: keyof VcpuResult['stats']) => v.stats[k] as number;
const hist = (v: VcpuResult, k: keyof VcpuResult['stats']) => (v.stats[k] as number[]).reduce((a, b) => a + b, 0);

export function expectHaltStatsAddUp(v: VcpuResult): void {
  const successful = n(v, 'halt_successful_poll');
  const attempted = n(v, 'halt_attempted_poll');
  const halts = n(v, 'halt_exits');
  expect(successful).toBeLessThanOrEqual(attempted);
  expect(attempted).toBeLessThanOrEqual(halts);
  // Each log2 histogram holds one entry per event. A halt that polled either succeeded or slept
  // ("success" means it never called schedule()); one that did not poll may still find its wake
  // condition before sleeping, and then neither polled nor waited.
  expect(hist(v, 'halt_poll_success_hist')).toBe(successful);
  expect(hist(v, 'halt_poll_fail_hist')).toBe(attempted - successful);
  const waited = hist(v, 'halt_wait_hist');
  expect(waited).toBeGreaterThanOrEqual(attempted - successful);
  expect(waited).toBeLessThanOrEqual(halts - successful);
  // halt_wakeup counts only wakes of a task in kvm_vcpu_block(), at most once per halt that got there.
  expect(n(v, 'halt_wakeup')).toBeLessThanOrEqual(halts - successful);
  // Exits by reason add up to exits.
  expect(EXIT_REASONS.reduce((a, r) => a + v.exit_reasons[r], 0)).toBe(n(v, 'exits'));
  expect(v.exit_reasons.HLT).toBe(halts);
  for (const k of ['halt_poll_success_ns', 'halt_poll_fail_ns', 'halt_wait_ns'] as const) expect(n(v, k)).toBeGreaterThanOrEqual(0);
}

export function expectCompleted(r: RunResult): void {
  expect(r.failure).toBeNull();
  expect(r.status).toBe('completed');
  expect(r.vcpus).toHaveLength(r.scenario.vm.vcpus);
}
