import { stripVTControlCharacters } from 'node:util';
import pc from 'picocolors';
import type { LatencySummary } from '../actors/histogram.ts';
import { ARM64_EXIT_REASONS, X86_EXIT_REASONS } from '../host/kvm/stats.ts';
import { vcpuCostS, type RunResult } from '../host/results.ts';

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

/** dsync-io's block device: throughput, request latency, the I/O thread's polling. */
function blockLines(r: RunResult): string[] {
  const b = r.block;
  if (!b) return [];
  const out: string[] = [];
  const what = `${b.block_size}-byte ${b.backend === 'file' ? 'O_DSYNC writes' : 'synthetic requests'}`;
  out.push('', `block I/O${b.bare_metal ? ' on bare metal (no VM)' : ''}: ${b.requests_completed} ${what} completed, ${b.requests_per_s.toFixed(0)}/s`);
  out.push(grid(['request latency, µs', 'p50', 'p90', 'p99', 'p99.9', 'max', 'count'], latencyRows(() => (b.bare_metal ? 'in the write' : 'guest-measured'), [b.io_latency_ns], b.io_latency_ns)));
  if (b.iothread) {
    const p = b.iothread.aio_poll;
    out.push(
      `iothread0: ${pct(b.iothread.cpu_pct)} % CPU; aio_poll ${p.ready} ready, ${p.polled} caught while polling, ${p.blocked} slept; ` +
        `poll-max-ns ${b.iothread.poll_max_ns}, poll time ${p.poll_ns} ns at the end`,
    );
  }
  return out;
}

export interface RenderOptions {
  /** Every column, those that stayed zero for every vCPU too. */
  all?: boolean;
}

export function renderRun(r: RunResult, opts: RenderOptions = {}): string {
  const s = r.scenario;
  const kvm = { ...s.host.kvm };
  const out: string[] = [];
  out.push(
    `haltlab ${r.haltlab.version} · ${s.name} (${s.workload.kind}) · ${s.vm.vcpus} vCPU on ${s.host.pcpus} pCPU · ` +
      `${r.wall_s.toFixed(2)} s · kernel ${s.host.kernel} defaults` +
      (Object.keys(kvm).length ? ` + ${Object.entries(kvm).map(([k, v]) => `${k}=${v}`).join(' ')}` : '') +
      (s.host.kvm_cap_halt_poll !== null ? ` · KVM_CAP_HALT_POLL=${s.host.kvm_cap_halt_poll}` : '') +
      (s.host.proposals.lazy_tscdeadline ? ' · PROPOSAL lazy_tscdeadline (not in mainline)' : ''),
  );
  out.push(`machine: ${r.machine.cores} cores, ${r.machine.cpu_model}, Node ${r.machine.node}`);
  if (r.status !== 'completed') out.push(pc.bold(pc.yellow(`STATUS: ${r.status}${r.failure ? ` — ${r.failure.message}` : ''} (partial results)`)));
  for (const w of r.warnings) out.push(pc.yellow(`warning: ${w}`));
  if (r.vcpus.length === 0) {
    // A bare-metal run: no VM, only its threads.
    out.push(...blockLines(r), '', 'host CPU (thread CPU time from the OS; % of one core)');
    out.push(grid(['thread', 'cpu s', 'cpu %'], r.threads.map((t) => [t.thread, t.cpu_s.toFixed(3), pct(t.wall_s > 0 ? (100 * t.cpu_s) / t.wall_s : 0)])));
    return out.join('\n');
  }
  const head = ['', 'p50', 'p90', 'p99', 'p99.9', 'max', 'count'];
  out.push('', 'wake latency, µs (interrupt pending -> guest runs again)');
  out.push(grid(head, latencyRows((i) => `vcpu${r.vcpus[i].id}`, r.vcpus.map((v) => v.wake_latency_ns), r.total.wake_latency_ns)));
  if (r.total.timer_lateness_ns.count > 0) {
    out.push('', 'timer lateness, µs (guest handler entry - programmed TSC deadline)');
    out.push(grid(head, latencyRows((i) => `vcpu${r.vcpus[i].id}`, r.vcpus.map((v) => v.timer_lateness_ns), r.total.timer_lateness_ns)));
  }
  out.push(...blockLines(r));
  const arm64 = r.scenario.host.arch === 'arm64';
  if (arm64) {
    out.push('', 'arm64 WFx (trapped: KVM stats; untrapped: waited in guest mode, pCPU kept)');
    out.push(
      grid(
        ['', 'wfi_exit_stat', 'wfe_exit_stat', 'WFI untrapped', 'WFE untrapped', 'loads WFI trapped', 'PELT util', 'guest busy'],
        r.vcpus.map((v) => [
          `vcpu${v.id}`,
          v.stats.wfi_exit_stat as number,
          v.stats.wfe_exit_stat as number,
          v.model.wfi_native,
          v.model.wfe_native,
          `${v.model.vcpu_loads_twi}/${v.model.vcpu_loads}`,
          v.sched.util.toFixed(2),
          v.sched.guest_busy_share.toFixed(2),
        ]),
      ),
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
  out.push('', `exits and timer (counts; exits/s per vCPU${opts.all ? '' : '; columns that stayed 0 left out, --all shows them'})`);
  // Every exit reason of the architecture that occurred (arm64 as its kvm_exit trace names them).
  const reasons: readonly (keyof RunResult['vcpus'][number]['exit_reasons'])[] = arm64 ? ARM64_EXIT_REASONS : X86_EXIT_REASONS;
  const columns: [string, (v: RunResult['vcpus'][number]) => number | string][] = [
    ['exits/s', (v) => Math.round(v.cpu.wall_s > 0 ? (v.stats.exits as number) / v.cpu.wall_s : 0)],
    ['exits', (v) => v.stats.exits as number],
    ...reasons.map((c): [string, (v: RunResult['vcpus'][number]) => number] => [c, (v) => v.exit_reasons[c]]),
    ['timer injected', (v) => v.model.timer_interrupts_injected],
    ['lazy re-arms', (v) => v.model.lazy_tscdeadline_rearms],
    ['set_next_event', (v) => v.guest_clockevent?.set_next_event ?? ''],
    ['pending only', (v) => v.guest_clockevent?.pending_only ?? ''],
  ];
  const occurred = columns.filter(([, f], i) => opts.all || i < 2 || r.vcpus.some((v) => f(v) !== 0 && f(v) !== ''));
  out.push(grid(['', ...occurred.map(([h]) => h)], r.vcpus.map((v) => [`vcpu${v.id}`, ...occurred.map(([, f]) => f(v))])));
  out.push('', 'host CPU (thread CPU time from the OS; % of one core)');
  // Idle in guest mode, the pCPU kept: arm64's untrapped WFI/WFE, x86's native HLT/MWAIT.
  const dx = r.scenario.host.kvm_cap_x86_disable_exits;
  const nativeIdle = arm64 || dx.hlt || dx.mwait;
  const byThread = new Map(r.vcpus.map((v) => [`vcpu${v.id}`, v]));
  out.push(
    grid(
      ['thread', 'cpu s', 'cpu %', 'guest %', 'polling %', 'blocked %', 'runnable %', ...(nativeIdle ? ['native_idle %', 'cpu + pCPU held %'] : [])],
      r.threads.map((t) => {
        const v = byThread.get(t.thread);
        const share = (k: string) => (v && v.cpu.wall_s > 0 ? pct((100 * (v.cpu.state_s[k] ?? 0)) / v.cpu.wall_s) : '');
        return [
          t.thread,
          t.cpu_s.toFixed(3),
          pct(t.wall_s > 0 ? (100 * t.cpu_s) / t.wall_s : 0),
          share('guest'),
          share('polling'),
          share('blocked'),
          share('runnable'),
          // A pCPU held idle in guest mode runs nothing else: the host pays for it as for CPU time.
          ...(nativeIdle ? [share('native_idle'), v && v.cpu.wall_s > 0 ? pct((100 * vcpuCostS(v)) / v.cpu.wall_s) : ''] : []),
        ];
      }),
    ),
  );
  out.push(
    '',
    `host: ${r.host.timers_fired} hrtimer expiries for sleeping vCPUs (lateness p50 ${us(r.host.hrtimer_lateness_ns.p50)} µs, ` +
      `p99 ${us(r.host.hrtimer_lateness_ns.p99)} µs), ${r.host.preemptions} tick preemptions; pCPU busy ${r.host.pcpu_busy_pct.map(pct).join(' / ')} %`,
    `pCPU idle (s): ${r.host.pcpu_idle.map((p) => `shallow ${p.shallow_s.toFixed(3)} deep ${p.deep_s.toFixed(3)}`).join(' / ')}` +
      (r.scenario.host.cpuidle.enabled ? `; exit latency paid ${r.host.pcpu_idle.map((p) => (p.exit_latency_s * 1000).toFixed(1)).join(' / ')} ms` : ' (idle states off: no exit latency)'),
  );
  return out.join('\n');
}
