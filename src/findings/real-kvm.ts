import type { LatencySummary } from '../actors/histogram.ts';
import type { AnyRunResult, AnyVcpuResult } from '../host/results.ts';
import { barChart } from './charts.ts';
import { dur, finding, haltPollCeilingNs, pct, ratio, table, times, us } from './finding.ts';
import type { Config, Measured } from './run.ts';

/**
 * The model beside the kernel it imitates: each claim real KVM can measure on this machine
 * (timer latency with and without polling, irq-wake's wake, the halt_poll_ns window's behaviour,
 * the idle cost), run on both backends one after another with the same scenario, and every
 * figure's agreement stated as a ratio, with a reason chosen by the measured figures where the
 * two disagree.
 */

/** Every claim on one vCPU: kvm_pvm's two cores are shared by the VM's threads and haltlab's. */
const SET = 'vcpus=1';
export const KVM_CLAIMS = {
  timer: { scenario: 'timer-latency', policies: ['poll', 'no-poll'] },
  irq: { scenario: 'irq-wake', policies: ['poll-1ms', 'poll', 'no-poll'] },
  idle: { scenario: 'idle-tick', policies: ['poll', 'no-poll'] },
} as const;
export type KvmClaim = keyof typeof KVM_CLAIMS;
const CLAIM_IDS = Object.keys(KVM_CLAIMS) as KvmClaim[];
const SIDES = ['model', 'kvm'] as const;

/**
 * Agreement bands. A latency agrees when real KVM's is within 0.5-2× the model's; the share of
 * polls that caught their wake within 20 points; CPU per vCPU thread within 0.5-2× or 5 points
 * (an idle vCPU's few percent would otherwise disagree on noise).
 */
export const KVM_BAND = { latency: [0.5, 2] as const, polls_points: 20, cpu: [0.5, 2] as const, cpu_points: 5 };

export interface SideFigures {
  /** The claim's latency: the timer's lateness (timer-latency, idle-tick) or the device interrupt's wake (irq-wake). */
  p50: number;
  p99: number;
  halts: number;
  attempted: number;
  successful: number;
  /** vCPU thread CPU over wall time, mean over vCPUs, % of one core. */
  cpu_pct: number;
  /** Wall time polling in KVM (halt_poll_success_ns + halt_poll_fail_ns), %. */
  polling_pct: number;
  /** Wall time in KVM_RUN outside halts (guest code, exits handled in the kernel), %. */
  guest_pct: number;
  /** Mean wait of a halt that slept (halt_wait_ns over halt_wait_hist's count). */
  mean_wait_ns: number;
}

export interface KvmPair {
  model: SideFigures;
  kvm: SideFigures;
}

export interface RealKvmFigures {
  timer: Record<(typeof KVM_CLAIMS.timer.policies)[number], KvmPair>;
  irq: Record<(typeof KVM_CLAIMS.irq.policies)[number], KvmPair>;
  idle: Record<(typeof KVM_CLAIMS.idle.policies)[number], KvmPair>;
  timer_delta_ns: number;
  gap_ns: number;
  jitter: number;
  tick_ns: number;
  /** The model's halt-polling ceiling under `poll` and `poll-1ms` (real KVM: KVM_CAP_HALT_POLL where the policy sets halt_poll_ns). */
  ceiling_ns: { poll: number; 'poll-1ms': number };
  host: {
    vendor_module: string | null;
    kernel: string;
    /** /sys/module/kvm/parameters/halt_poll_ns as read: real KVM's ceiling where the policy leaves it to the module (null: not read). */
    module_halt_poll_ns: number | null;
    /** The whole machine's busy share, the highest over the real-KVM runs (/proc/stat). */
    machine_busy_pct: number;
    /** The guest's interrupt handler, entry to EOI, p50 of the real-KVM runs' p50s (RDTSC in the guest). */
    guest_handler_p50_ns: number;
  };
}

const label = (claim: KvmClaim, policy: string, side: (typeof SIDES)[number]) => `${claim} ${policy} ${side}`;

const sumStat = (v: AnyVcpuResult, k: string) => {
  const x = (v.stats as Record<string, number | number[]>)[k];
  return Array.isArray(x) ? x.reduce((a, b) => a + b, 0) : (x ?? 0);
};

function sideOf(r: AnyRunResult, latency: 'timer_lateness_ns' | 'wake_latency_ns'): SideFigures {
  const l: LatencySummary = r.total[latency];
  const sum = (k: string) => r.vcpus.reduce((a, v) => a + sumStat(v, k), 0);
  const wall = r.vcpus.reduce((a, v) => a + v.cpu.wall_s, 0);
  const state = (k: string) => r.vcpus.reduce((a, v) => a + (v.cpu.state_s[k] ?? 0), 0);
  const waits = sum('halt_wait_hist');
  return {
    p50: l.p50,
    p99: l.p99,
    halts: sum('halt_exits'),
    attempted: sum('halt_attempted_poll'),
    successful: sum('halt_successful_poll'),
    cpu_pct: r.total.host_cpu_pct_per_vcpu,
    polling_pct: wall > 0 ? (100 * state('polling')) / wall : 0,
    guest_pct: wall > 0 ? (100 * state('guest')) / wall : 0,
    mean_wait_ns: waits ? sum('halt_wait_ns') / waits : 0,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const successShare = (s: SideFigures) => (s.attempted ? (100 * s.successful) / s.attempted : 0);
const inBand = (x: number, [lo, hi]: readonly [number, number]) => x >= lo && x <= hi;

/** Where real KVM's latency differs from the model's beyond the band, why: chosen by the figures. */
function latencyReason(f: RealKvmFigures, claim: KvmClaim, p: KvmPair, which: 'p50' | 'p99'): string {
  const r = ratio(p.kvm[which], p.model[which]);
  const nested = f.host.vendor_module === 'kvm_pvm';
  const polled = p.kvm.attempted > 0 && successShare(p.kvm) >= 50;
  if (r > KVM_BAND.latency[1]) {
    if (polled) {
      return `most of these wakes were caught by KVM's poll, so the gap is the guest's own path: its handler takes ${us(f.host.guest_handler_p50_ns)} at p50 from entry to EOI on real KVM${nested ? ' (kvm_pvm emulates every guest instruction at CPL0)' : ''}`;
    }
    const irq = f.irq;
    const slept = (s: 'model' | 'kvm') => irq['no-poll'][s].p50 - irq['poll-1ms'][s].p50;
    return (
      `a halt that slept ends with the host waking the vCPU thread, which costs ${us(slept('kvm'))} more than a polled wake on real KVM here (irq-wake, no-poll p50 − poll-1ms p50) and ${us(slept('model'))} in the model` +
      (nested ? '; this KVM runs nested (kvm_pvm), so the wake crosses the outer hypervisor' : '') +
      (f.host.machine_busy_pct >= 25 ? `; the machine was up to ${pct(f.host.machine_busy_pct)} busy` : '')
    );
  }
  if (claim !== 'irq' && p.model.successful < p.model.halts / 2) {
    return 'the model fires a sleeping vCPU’s timer when its thread’s timed wait ends, as late as this machine wakes a timed waiter (host.hrtimer_lateness_ns), real KVM from an hrtimer interrupt (docs/model.md)';
  }
  return 'the model’s wake between Node threads (Atomics.notify to Atomics.wait) is slower here than the kernel’s';
}

function pollsReason(f: RealKvmFigures, p: KvmPair): string {
  const lower = successShare(p.kvm) < successShare(p.model);
  if (lower && f.host.machine_busy_pct >= 10) return `KVM ends a poll as soon as another task can run on the CPU (single_task_running()), and the machine was up to ${pct(f.host.machine_busy_pct)} busy during the real-KVM runs`;
  const [longer, shorter] = lower ? (['kvm', 'model'] as const) : (['model', 'kvm'] as const);
  if (p[longer].mean_wait_ns > 1.5 * p[shorter].mean_wait_ns) {
    return `halts that slept lasted longer on ${longer === 'kvm' ? 'real KVM' : 'the model'} (mean wait ${us(p[longer].mean_wait_ns)} against ${us(p[shorter].mean_wait_ns)}), so more of them outlasted the window and shrank it`;
  }
  return 'the two windows grew and shrank differently on the same gaps (neither the machine’s load nor the halts’ lengths explain it)';
}

function cpuReason(p: KvmPair): string {
  const gap = p.kvm.cpu_pct - p.model.cpu_pct;
  const pollGap = p.kvm.polling_pct - p.model.polling_pct;
  const parts = [`the vCPU polled ${pct(p.kvm.polling_pct)} of the wall time on real KVM and ${pct(p.model.polling_pct)} in the model`];
  // Where polling does not account for the gap, the rest is named by which side spent more.
  if (Math.abs(pollGap) < Math.abs(gap) / 2) {
    parts.push(
      gap > 0
        ? `and spent ${pct(p.kvm.guest_pct)} in KVM_RUN outside halts (guest code, exits handled in the kernel) against ${pct(p.model.guest_pct)}`
        : `and the model's vCPU thread spent ${pct(Math.max(0, p.model.cpu_pct - p.model.polling_pct))} of a core outside polling (its guest interpreter and its wait and wake plumbing) against ${pct(Math.max(0, p.kvm.cpu_pct - p.kvm.polling_pct))} on real KVM`,
    );
  }
  return parts.join(' ');
}

interface Judged {
  ratio: number;
  agrees: boolean;
  why: string | null;
}

/** Each figure of one claim and policy: the ratio, whether it is in its band, and why not. */
export function judge(f: RealKvmFigures, claim: KvmClaim, policy: string): Record<'p50' | 'p99' | 'polls' | 'cpu', Judged> {
  const p = (f[claim] as Record<string, KvmPair>)[policy];
  const lat = (w: 'p50' | 'p99'): Judged => {
    const r = ratio(p.kvm[w], p.model[w]);
    const agrees = inBand(r, KVM_BAND.latency);
    return { ratio: r, agrees, why: agrees ? null : latencyReason(f, claim, p, w) };
  };
  const pollsAgree = Math.abs(successShare(p.kvm) - successShare(p.model)) <= KVM_BAND.polls_points;
  const cpuR = ratio(p.kvm.cpu_pct, p.model.cpu_pct);
  const cpuAgree = inBand(cpuR, KVM_BAND.cpu) || Math.abs(p.kvm.cpu_pct - p.model.cpu_pct) <= KVM_BAND.cpu_points;
  return {
    p50: lat('p50'),
    p99: lat('p99'),
    polls: { ratio: ratio(successShare(p.kvm), successShare(p.model)), agrees: pollsAgree, why: pollsAgree ? null : pollsReason(f, p) },
    cpu: { ratio: cpuR, agrees: cpuAgree, why: cpuAgree ? null : cpuReason(p) },
  };
}

const pollsShare = (s: SideFigures, who: string) => (s.attempted ? `${pct(successShare(s))} of ${who}'s ${s.attempted} polls caught their wake` : `${who} never polled (its window stayed at 0)`);
const pollsText = (s: SideFigures) => (s.attempted ? `${s.successful} / ${s.attempted} (${pct(successShare(s))})` : `0 / 0`);

export const REAL_KVM = finding<RealKvmFigures>({
  id: 'real-kvm',
  title: 'The model beside real KVM',
  seed: '002_074298a04e28de09.txt',
  claim:
    'Halt polling cuts a wake from tens of microseconds to a few (the RFC measured it on real KVM); haltlab’s model claims the same of itself. Here the same scenarios run on the model and on this machine’s /dev/kvm, one after another.',
  groups: CLAIM_IDS.map((claim) => KVM_CLAIMS[claim].policies.flatMap((policy) => SIDES.map((side): Config => ({ label: label(claim, policy, side), scenario: KVM_CLAIMS[claim].scenario, policy, set: SET, backend: side })))),
  duration_s: 3,
  needs: 'kvm',
  figures(m) {
    const run = (l: string) => {
      const r = m.find((x) => x.config.label === l)?.result;
      if (!r) throw new Error(`no measurement "${l}"`);
      return r;
    };
    const pairs = <C extends KvmClaim>(claim: C, latency: 'timer_lateness_ns' | 'wake_latency_ns') =>
      Object.fromEntries(KVM_CLAIMS[claim].policies.map((p) => [p, { model: sideOf(run(label(claim, p, 'model')), latency), kvm: sideOf(run(label(claim, p, 'kvm')), latency) }])) as RealKvmFigures[C];
    const kvmRuns = m.map((x) => x.result).filter((r) => r.backend === 'kvm');
    const w = <K extends string>(l: string, kind: K) => {
      const x = run(l).scenario.workload;
      if (x.kind !== kind) throw new Error(`${l} ran ${x.kind}, not ${kind}`);
      return x as Extract<typeof x, { kind: K }>;
    };
    const k = kvmRuns[0];
    const moduleHaltPoll = k?.backend === 'kvm' ? Number(k.machine.kvm?.module_params.halt_poll_ns ?? Number.NaN) : Number.NaN;
    return {
      timer: pairs('timer', 'timer_lateness_ns'),
      irq: pairs('irq', 'wake_latency_ns'),
      idle: pairs('idle', 'timer_lateness_ns'),
      timer_delta_ns: w(label('timer', 'poll', 'model'), 'timer-latency').delta_ns,
      gap_ns: w(label('irq', 'poll', 'model'), 'irq-wake').gap_ns,
      jitter: w(label('irq', 'poll', 'model'), 'irq-wake').jitter,
      tick_ns: w(label('idle', 'poll', 'model'), 'idle-tick').tick_ns,
      ceiling_ns: { poll: haltPollCeilingNs(run(label('irq', 'poll', 'model')).scenario), 'poll-1ms': haltPollCeilingNs(run(label('irq', 'poll-1ms', 'model')).scenario) },
      host: {
        vendor_module: k?.backend === 'kvm' ? (k.machine.kvm?.vendor_module ?? null) : null,
        kernel: k?.backend === 'kvm' ? (k.machine.kvm?.kernel ?? '?') : '?',
        module_halt_poll_ns: Number.isFinite(moduleHaltPoll) ? moduleHaltPoll : null,
        machine_busy_pct: Math.max(0, ...kvmRuns.map((r) => (r.backend === 'kvm' ? r.kvm.machine_busy_pct : 0))),
        guest_handler_p50_ns: median(kvmRuns.map((r) => (r.backend === 'kvm' ? r.kvm.guest_handler_ns.p50 : 0))),
      },
    };
  },
  table(_m, f) {
    const what: Record<KvmClaim, string> = {
      timer: `timer-latency (TSC deadline every ${dur(f.timer_delta_ns)}): lateness`,
      irq: `irq-wake (gaps ${dur(f.gap_ns)} ± ${Math.round(100 * f.jitter)}%): wake`,
      idle: `idle-tick (${dur(f.tick_ns)} tick): lateness`,
    };
    const cell = (j: Judged) => (j.agrees ? 'agrees' : 'differs');
    const rows = CLAIM_IDS.flatMap((claim) =>
      KVM_CLAIMS[claim].policies.flatMap((policy) => {
        const p = (f[claim] as Record<string, KvmPair>)[policy];
        const j = judge(f, claim, policy);
        return [
          [what[claim], policy, 'latency p50', us(p.model.p50), us(p.kvm.p50), times(j.p50.ratio), cell(j.p50)],
          [what[claim], policy, 'latency p99', us(p.model.p99), us(p.kvm.p99), times(j.p99.ratio), cell(j.p99)],
          [what[claim], policy, 'successful / attempted polls', pollsText(p.model), pollsText(p.kvm), p.model.attempted && p.kvm.attempted ? times(j.polls.ratio) : '–', cell(j.polls)],
          [what[claim], policy, 'CPU per vCPU thread', pct(p.model.cpu_pct), pct(p.kvm.cpu_pct), times(j.cpu.ratio), cell(j.cpu)],
        ];
      }),
    );
    const bars = CLAIM_IDS.flatMap((claim) => KVM_CLAIMS[claim].policies.flatMap((policy) => SIDES.map((side) => ({ label: `${claim} ${policy} ${side === 'kvm' ? 'KVM' : 'model'}`, value: (f[claim] as Record<string, KvmPair>)[policy][side].p50 / 1e3 }))));
    return {
      measured: table(['scenario, 1 vCPU', 'policy', 'figure', 'model', 'real KVM', 'real KVM / model', `band`], rows),
      charts: [
        {
          file: 'real-kvm.svg',
          alt: 'latency p50, model and real KVM',
          svg: barChart({ title: 'Latency p50: the model beside real KVM', caption: `1 vCPU; real KVM: ${f.host.vendor_module ?? 'kvm'}, Linux ${f.host.kernel}`, unit: 'µs', bars }),
        },
      ],
    };
  },
  verdict(f) {
    const dir = (claim: KvmClaim, fast: string, slow: string) => {
      const c = f[claim] as Record<string, KvmPair>;
      const cut = (s: 'model' | 'kvm') => c[fast][s].p50 < c[slow][s].p50;
      const both = cut('model') && cut('kvm');
      const neither = !cut('model') && !cut('kvm');
      const said = both ? 'cuts it on both' : neither ? 'cuts it on neither' : cut('model') ? 'cuts it on the model only' : 'cuts it on real KVM only';
      return `\`${fast}\` against \`${slow}\` ${said} (model ${us(c[slow].model.p50)} → ${us(c[fast].model.p50)}, real KVM ${us(c[slow].kvm.p50)} → ${us(c[fast].kvm.p50)} at p50)`;
    };
    const disagreements = CLAIM_IDS.flatMap((claim) =>
      KVM_CLAIMS[claim].policies.flatMap((policy) => {
        const j = judge(f, claim, policy);
        const name = { p50: 'latency p50', p99: 'latency p99', polls: 'successful polls', cpu: 'CPU per vCPU thread' } as const;
        return (Object.keys(j) as (keyof typeof j)[]).filter((k) => !j[k].agrees).map((k) => `${KVM_CLAIMS[claim].scenario} ${policy}, ${name[k]} (${times(j[k].ratio)}): ${j[k].why}`);
      }),
    );
    const total = CLAIM_IDS.reduce((a, c) => a + KVM_CLAIMS[c].policies.length * 4, 0);
    const w = f.irq.poll;
    return (
      `On the timer's lateness, ${dir('timer', 'poll', 'no-poll')}; on a device interrupt's wake, ${dir('irq', 'poll-1ms', 'no-poll')}. ` +
      `KVM's adaptive window under \`poll\` (ceiling ${dur(f.ceiling_ns.poll)} in the model${f.host.module_halt_poll_ns === null ? '' : `, the module's halt_poll_ns ${dur(f.host.module_halt_poll_ns)} on real KVM`}) on gaps of ${dur(f.gap_ns)} ± ${Math.round(100 * f.jitter)}%: ${pollsShare(w.model, 'the model')}, ${pollsShare(w.kvm, 'real KVM')}. ` +
      `An idle vCPU on a ${dur(f.tick_ns)} tick cost ${pct(f.idle.poll.model.cpu_pct)} of a core in the model and ${pct(f.idle.poll.kvm.cpu_pct)} on real KVM with polling, ${pct(f.idle['no-poll'].model.cpu_pct)} and ${pct(f.idle['no-poll'].kvm.cpu_pct)} without. ` +
      `${total - disagreements.length} of ${total} figures agree (bands: a latency or CPU within ${KVM_BAND.latency[0]}-${KVM_BAND.latency[1]}× of the model's, CPU also within ${KVM_BAND.cpu_points} points, successful polls within ${KVM_BAND.polls_points} points)` +
      (disagreements.length ? `; where they differ, the measured reason: ${disagreements.join('; ')}.` : '.')
    );
  },
});
