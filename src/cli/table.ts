import { stripVTControlCharacters } from 'node:util';
import type { LatencySummary } from '../actors/histogram.ts';
import type { RunResult } from '../host/results.ts';

/** Terminal rendering of a RunResult. */

/** Aligned columns: the first left-aligned, the rest right-aligned; ANSI colours do not count toward widths. */
export function grid(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const width = (s: string) => stripVTControlCharacters(s).length;
  const widths = header.map((_, c) => Math.max(...cells.map((r) => width(r[c] ?? ''))));
  const pad = (cell: string, c: number) => {
    const fill = ' '.repeat(Math.max(0, widths[c] - width(cell)));
    return c === 0 ? cell + fill : fill + cell;
  };
  return cells
    .map((r, i) => {
      const line = r.map(pad).join('  ');
      return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

export const us = (ns: number) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);
const ms = (ns: number) => (ns / 1e6).toFixed(1);
const pct = (x: number) => x.toFixed(1);

function latencyRows(label: (i: number) => string, items: LatencySummary[], total: LatencySummary) {
  const row = (name: string, l: LatencySummary) => [name, us(l.p50), us(l.p90), us(l.p99), us(l.p999), us(l.max), l.count];
  return [...items.map((l, i) => row(label(i), l)), ...(items.length > 1 ? [row('all', total)] : [])];
}

export function renderRun(r: RunResult): string {
  const s = r.scenario;
  const kvm = { ...s.host.kvm };
  const out: string[] = [];
  out.push(
    `haltlab ${r.haltlab.version} · ${s.name} (${s.workload.kind}) · ${s.vm.vcpus} vCPU on ${s.host.pcpus} pCPU · ` +
      `${r.wall_s.toFixed(2)} s · kernel ${s.host.kernel} defaults` +
      (Object.keys(kvm).length ? ` + ${Object.entries(kvm).map(([k, v]) => `${k}=${v}`).join(' ')}` : '') +
      (s.host.kvm_cap_halt_poll !== null ? ` · KVM_CAP_HALT_POLL=${s.host.kvm_cap_halt_poll}` : ''),
  );
  out.push(`machine: ${r.machine.cores} cores, ${r.machine.cpu_model}, Node ${r.machine.node}`);
  if (r.status !== 'completed') out.push(`STATUS: ${r.status}${r.failure ? ` — ${r.failure.message}` : ''} (partial results)`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  const head = ['', 'p50', 'p90', 'p99', 'p99.9', 'max', 'count'];
  out.push('', 'wake latency, µs (interrupt pending -> guest runs again)');
  out.push(grid(head, latencyRows((i) => `vcpu${r.vcpus[i].id}`, r.vcpus.map((v) => v.wake_latency_ns), r.total.wake_latency_ns)));
  if (r.total.timer_lateness_ns.count > 0) {
    out.push('', 'timer lateness, µs (guest handler entry - programmed TSC deadline)');
    out.push(grid(head, latencyRows((i) => `vcpu${r.vcpus[i].id}`, r.vcpus.map((v) => v.timer_lateness_ns), r.total.timer_lateness_ns)));
  }
  if (r.block) {
    const b = r.block;
    const p = b.iothread.aio_poll;
    out.push('', `block I/O: ${b.requests_completed} ${b.block_size}-byte ${b.backend === 'file' ? 'O_DSYNC writes' : 'synthetic requests'} completed, ${b.requests_per_s.toFixed(0)}/s`);
    out.push(grid(['request latency, µs', 'p50', 'p90', 'p99', 'p99.9', 'max', 'count'], latencyRows(() => 'guest-measured', [b.io_latency_ns], b.io_latency_ns)));
    out.push(
      `iothread0: ${pct(b.iothread.cpu_pct)} % CPU; aio_poll ${p.ready} ready, ${p.polled} caught while polling, ${p.blocked} slept; ` +
        `poll-max-ns ${b.iothread.poll_max_ns}, poll time ${p.poll_ns} ns at the end`,
    );
  }
  if (r.spinlock) {
    const l = r.spinlock;
    const sum = (k: 'on_spin_yield_attempted' | 'on_spin_yield_successful' | 'on_spin_yield_failed') => r.vcpus.reduce((a, v) => a + v.model[k], 0);
    const ple = r.vcpus.reduce((a, v) => a + v.exit_reasons.PAUSE_INSTRUCTION, 0);
    out.push('', `spinlock: ${l.acquisitions} acquisitions, ${l.acquisitions_per_s.toFixed(0)}/s; mutual exclusion violations ${l.mutual_exclusion_violations}`);
    out.push(grid(['spin time, µs', 'p50', 'p90', 'p99', 'p99.9', 'max', 'count'], latencyRows(() => 'guest-measured', [l.spin_time_ns], l.spin_time_ns)));
    out.push(
      `PLE exits ${ple}; kvm_vcpu_on_spin yield_to ${sum('on_spin_yield_attempted')} tried, ${sum('on_spin_yield_successful')} successful, ${sum('on_spin_yield_failed')} -ESRCH; ` +
        `ple_window at the end ${r.vcpus.map((v) => v.ple_window).join(' / ')}`,
    );
  }
  out.push('', 'halt statistics (KVM names; times in ms)');
  out.push(
    grid(
      ['', 'halt_exits', 'halt_attempted_poll', 'halt_successful_poll', 'halt_wakeup', 'poll_success', 'poll_fail', 'wait', 'halt_poll_ns'],
      r.vcpus.map((v) => [
        `vcpu${v.id}`,
        v.stats.halt_exits as number,
        v.stats.halt_attempted_poll as number,
        v.stats.halt_successful_poll as number,
        v.stats.halt_wakeup as number,
        ms(v.stats.halt_poll_success_ns as number),
        ms(v.stats.halt_poll_fail_ns as number),
        ms(v.stats.halt_wait_ns as number),
        v.halt_poll_ns,
      ]),
    ),
  );
  out.push('', 'host CPU (thread CPU time from the OS; % of one core)');
  const byThread = new Map(r.vcpus.map((v) => [`vcpu${v.id}`, v]));
  out.push(
    grid(
      ['thread', 'cpu s', 'cpu %', 'guest %', 'polling %', 'blocked %', 'runnable %'],
      r.threads.map((t) => {
        const v = byThread.get(t.thread);
        const share = (k: string) => (v && v.cpu.wall_s > 0 ? pct((100 * (v.cpu.state_s[k] ?? 0)) / v.cpu.wall_s) : '');
        return [t.thread, t.cpu_s.toFixed(3), pct(t.wall_s > 0 ? (100 * t.cpu_s) / t.wall_s : 0), share('guest'), share('polling'), share('blocked'), share('runnable')];
      }),
    ),
  );
  out.push(
    '',
    `host: ${r.host.timers_fired} hrtimer expiries for sleeping vCPUs (lateness p50 ${us(r.host.hrtimer_lateness_ns.p50)} µs, ` +
      `p99 ${us(r.host.hrtimer_lateness_ns.p99)} µs), ${r.host.preemptions} tick preemptions; pCPU busy ${r.host.pcpu_busy_pct.map(pct).join(' / ')} %`,
  );
  return out.join('\n');
}
