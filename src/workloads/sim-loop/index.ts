import { z } from 'zod';
import { simLoopGuest } from '../../guest/workloads/sim-loop.ts';
import type { SimResult, VcpuResult } from '../../host/results.ts';
import type { VcpuThreadSnapshot } from '../../host/vmm/vcpu-thread.ts';
import { defineWorkload, type Cost } from '../module.ts';

const schema = z.strictObject({
  kind: z.literal('sim-loop'),
  mode: z
    .enum(['exit-on-wfi', 'watchdog', 'kernel'])
    .default('exit-on-wfi')
    .describe(
      '`exit-on-wfi`: a single-threaded simulator whose KVM_RUN returns when the idle guest would block (the 2023 request, seeds/001) and skips virtual time to its next timer event; `watchdog`: the same loop on mainline, left only by its watchdog signal; `kernel`: no simulator, the guest’s timer in KVM, real time',
    ),
  quantum_ns: z.int().min(10_000).max(1_000_000_000).default(1_000_000).describe('the simulator’s budget per KVM_RUN, ns (wall time standing for a PMU instruction count)'),
  tick_ns: z.int().min(10_000).max(1_000_000_000).default(1_000_000).describe('the guest’s timer period, in virtual time, ns'),
  work_ns: z.int().min(0).max(100_000_000).default(50_000).describe('guest work per tick, ns'),
});
type SimLoop = z.infer<typeof schema>;

export default defineWorkload({
  schema,
  summary: 'a single-threaded simulator loop (vcpu-run | devices | vcpu-run) on an idling guest: simulated time per wall second, with the exit-on-WFI request, a watchdog only, or plain KVM',
  source: 'Weinstock, "KVM exit to userspace on WFI" (seeds/001); MachineWare VCML, gem5 KVM CPU (reference §7)',
  // The simulator of seeds/001 runs arm64 guests: its exit is the arm64 request's KVM_EXIT_WFX.
  builtin: { host: { arch: 'arm64' } },
  program: (w, kernel) => simLoopGuest({ work_ns: w.work_ns, tick_ns: w.tick_ns, periodic: w.mode === 'kernel', kernel }),
  // exit-on-wfi: the VM needs its architecture's exit on idle (arm64 KVM_CAP_EXIT_ON_WFX, x86 the RFC's HLT exit).
  exitOnIdle: (w) => w.mode === 'exit-on-wfi',
  vcpuThread: (w) => ({ sim: w.mode === 'kernel' ? null : { mode: w.mode, quantum_ns: w.quantum_ns, tick_ns: w.tick_ns } }),
  result: (w, { vcpuSnaps, vcpus, wallS }) => ({ sim: simResult(w, vcpuSnaps, vcpus, wallS) }),
});

/** Simulated time per wall second, and the wall time lost blocked in the kernel, over the vCPUs. */
function simResult(w: SimLoop, snaps: Cost<VcpuThreadSnapshot>[], vcpus: VcpuResult[], wallS: number): SimResult {
  const n = Math.max(1, snaps.length);
  const sum = (f: (s: NonNullable<Cost<VcpuThreadSnapshot>['sim']>) => number) => snaps.reduce((a, s) => a + (s.sim ? f(s.sim) : 0), 0);
  // Plain KVM has no virtual time: it runs in real time by definition, so there is no ratio to
  // measure (null, not a constant 1); what it spends asleep in the kernel is the guest's idle, not waste.
  const simulated = w.mode === 'kernel' ? null : sum((s) => s.simulated_ns) / 1e9 / n;
  const wall = w.mode === 'kernel' ? wallS : sum((s) => s.wall_ns) / 1e9 / n;
  const blocked = w.mode === 'kernel' ? vcpus.reduce((a, v) => a + (v.cpu.state_s.blocked ?? 0) + (v.cpu.state_s.polling ?? 0), 0) / n : sum((s) => s.blocked_in_kernel_ns) / 1e9 / n;
  return {
    mode: w.mode,
    simulated_s: simulated,
    wall_s: wall,
    sim_per_wall: simulated === null ? null : wall > 0 ? simulated / wall : 0,
    blocked_in_kernel_s: blocked,
    blocked_share: wall > 0 ? blocked / wall : 0,
    quanta: sum((s) => s.quanta),
    watchdog_kicks: sum((s) => s.watchdog_kicks),
    idle_exits: sum((s) => s.idle_exits),
    skips: sum((s) => s.skips),
    // Plain KVM: the guest's own deadline timer, counted where it fires (ticks_injected where it is taken).
    ticks: w.mode === 'kernel' ? vcpus.reduce((a, v) => a + v.model.timer_fired_in_guest + v.model.timer_fired_by_host + v.model.timer_fired_at_write, 0) : sum((s) => s.ticks),
    ticks_coalesced: sum((s) => s.ticks_coalesced),
    ticks_injected: vcpus.reduce((a, v) => a + (w.mode === 'kernel' ? v.model.timer_interrupts_injected : v.model.device_interrupts_injected), 0),
  };
}
