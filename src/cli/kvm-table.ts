import type { AnyRunResult, KvmRunResult } from '../host/results.ts';
import type { LatencySummary } from '../actors/histogram.ts';
import { grid, renderRun, us } from './table.ts';

/**
 * Terminal rendering of a run on real KVM: the model's tables where the kernel has the same
 * figures (wake latency, timer lateness, KVM's halt statistics by name, CPU per thread), and what
 * only the kernel has (its exit counters, the `blocking` stat, what the guest's handlers cost).
 */

const ms = (ns: number) => (ns / 1e6).toFixed(1);
const pct = (x: number) => x.toFixed(1);

/** Either backend's run, as its table. */
export function renderAnyRun(r: AnyRunResult, opts: { all?: boolean } = {}): string {
  return r.backend === 'kvm' ? renderKvmRun(r) : renderRun(r, opts);
}

function latencyRows(r: KvmRunResult, pick: (v: KvmRunResult['vcpus'][number]) => LatencySummary, total: LatencySummary) {
  const row = (name: string, l: LatencySummary) => [name, us(l.p50), us(l.p90), us(l.p99), us(l.p999), us(l.max), l.count];
  return [...r.vcpus.map((v) => row(`vcpu${v.id}`, pick(v))), ...(r.vcpus.length > 1 ? [row('all', total)] : [])];
}

export function renderKvmRun(r: KvmRunResult): string {
  const s = r.scenario;
  const k = r.machine.kvm;
  const cap = r.kvm.halt_poll_cap_ns;
  const out: string[] = [];
  out.push(
    `haltlab ${r.haltlab.version} · ${s.name} (${s.workload.kind}) · ${s.vm.vcpus} vCPU · ${r.wall_s.toFixed(2)} s · REAL KVM: ` +
      `${k?.vendor_module ?? 'kvm'}, Linux ${k?.kernel ?? '?'} · ` +
      (cap === null ? `the module's halt_poll_ns (${k?.module_params.halt_poll_ns ?? '?'})` : `KVM_CAP_HALT_POLL=${cap}`),
  );
  out.push(
    `machine: ${r.machine.cores} cores, ${r.machine.cpu_model}, Node ${r.machine.node}; busy ${pct(r.kvm.machine_busy_pct)}% over the run ` +
      `(while other tasks run, KVM's polls end at once: single_task_running())`,
  );
  if (r.status !== 'completed') out.push(`STATUS: ${r.status}${r.failure ? ` — ${r.failure.message}` : ''} (partial results)`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  const head = ['', 'p50', 'p90', 'p99', 'p99.9', 'max', 'count'];
  out.push('', 'wake latency, µs (interrupt pending -> guest runs again; guest RDTSC at its handler minus the host TSC at the irqfd write or the deadline)');
  out.push(grid(head, latencyRows(r, (v) => v.wake_latency_ns, r.total.wake_latency_ns)));
  if (r.total.timer_lateness_ns.count > 0) {
    out.push('', 'timer lateness, µs (guest handler entry - programmed TSC deadline)');
    out.push(grid(head, latencyRows(r, (v) => v.timer_lateness_ns, r.total.timer_lateness_ns)));
  }
  const h = r.kvm.guest_handler_ns;
  out.push('', `guest handlers, entry to EOI (measured by the guest; part of every wake): p50 ${us(h.p50)} µs, p99 ${us(h.p99)} µs over ${h.count}`);
  const n = (v: KvmRunResult['vcpus'][number], key: string) => (typeof v.stats[key] === 'number' ? (v.stats[key] as number) : 0);
  out.push('', "halt statistics (KVM's stats fd, KVM's names; times in ms)");
  out.push(
    grid(
      ['', 'halt_exits', 'halt_attempted_poll', 'halt_successful_poll', 'halt_poll_invalid', 'halt_wakeup', 'poll_success', 'poll_fail', 'wait'],
      r.vcpus.map((v) => [
        `vcpu${v.id}`,
        n(v, 'halt_exits'),
        n(v, 'halt_attempted_poll'),
        n(v, 'halt_successful_poll'),
        n(v, 'halt_poll_invalid'),
        n(v, 'halt_wakeup'),
        ms(n(v, 'halt_poll_success_ns')),
        ms(n(v, 'halt_poll_fail_ns')),
        ms(n(v, 'halt_wait_ns')),
      ]),
    ),
  );
  const exitCols = ['exits', 'halt_exits', 'irq_exits', 'io_exits', 'signal_exits', 'irq_window_exits', 'irq_injections', 'insn_emulation'];
  out.push('', "exits (KVM's stats fd: counts; exits/s per vCPU)");
  out.push(
    grid(
      ['', 'exits/s', ...exitCols],
      r.vcpus.map((v) => [`vcpu${v.id}`, Math.round(v.cpu.wall_s > 0 ? n(v, 'exits') / v.cpu.wall_s : 0), ...exitCols.map((c) => (c in v.stats ? n(v, c) : '–'))]),
    ),
  );
  out.push('', "host CPU (thread CPU time from the OS; % of one core; a vCPU thread's states from KVM's halt accounting)");
  const byThread = new Map(r.vcpus.map((v) => [`vcpu${v.id}`, v]));
  out.push(
    grid(
      ['thread', 'cpu s', 'cpu %', 'guest %', 'polling %', 'blocked %', 'vmm %'],
      r.threads.map((t) => {
        const v = byThread.get(t.thread);
        const share = (key: string) => (v && v.cpu.wall_s > 0 ? pct((100 * (v.cpu.state_s[key] ?? 0)) / v.cpu.wall_s) : '');
        return [t.thread, t.cpu_s.toFixed(3), pct(t.wall_s > 0 ? (100 * t.cpu_s) / t.wall_s : 0), share('guest'), share('polling'), share('blocked'), share('vmm')];
      }),
    ),
  );
  if (r.kvm.device_interrupts_raised !== undefined) {
    out.push('', `device: ${r.kvm.device_interrupts_raised} interrupts raised through irqfds, ${r.kvm.device_eois} EOIs back through resamplefds`);
  }
  return out.join('\n');
}
