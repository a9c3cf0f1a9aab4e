import { Worker } from 'node:worker_threads';
import { availableParallelism, cpus } from 'node:os';
import { newHistogram, summarize, type LatencySummary } from '../src/actors/histogram.ts';
import { createVm } from '../src/host/vm.ts';
import { parseScenario } from '../src/scenarios/schema.ts';
import { benchKvmExits } from './kvm-exits.ts';

/**
 * `npm run bench`: wake latency from "interrupt pending" to "vCPU runs guest
 * code", for a blocked vCPU (halt_poll_ns=0) and a polling one, beside the raw
 * floors measured in the same process and run: a bare Atomics.wait/notify
 * ping-pong and a bare spin ping-pong between two threads. Same gaps, same
 * sample counts. Prints p50/p99 and the ratios haltlab/raw.
 */

const GAP_NS = 200_000;
const JITTER = 0.5;

interface Measured {
  p50_ns: number;
  p99_ns: number;
  count: number;
}

const pick = (s: LatencySummary): Measured => ({ p50_ns: s.p50, p99_ns: s.p99, count: s.count });

async function raw(mode: 'atomics' | 'spin', samples: number): Promise<Measured> {
  const sab = new SharedArrayBuffer(16 + 8 * (samples + 2));
  const url = new URL('./raw-pingpong.mjs', import.meta.url);
  const common = { sab, mode, samples, gapNs: GAP_NS, jitter: JITTER, seed: 7 };
  const workers = ['receiver', 'sender'].map((role) => new Worker(url, { workerData: { ...common, role } }));
  await Promise.all(workers.map((w) => new Promise((resolve, reject) => w.on('exit', resolve).on('error', reject))));
  const f = new Float64Array(sab, 16, samples + 2);
  const h = newHistogram();
  for (let i = 2; i < samples + 2; i++) h.recordValue(Math.max(0, Math.round(f[i])));
  return pick(summarize(h));
}

async function haltlab(haltPollNs: number, samples: number, trace = false): Promise<Measured> {
  const scenario = parseScenario({
    name: `bench-${haltPollNs ? 'polling' : 'blocked'}`,
    duration_s: (samples * GAP_NS * 1.15) / 1e9 + 0.2,
    host: { pcpus: 1, kvm: { halt_poll_ns: haltPollNs } },
    vm: { vcpus: 1 },
    workload: { kind: 'irq-wake', gap_ns: GAP_NS, jitter: JITTER, seed: 7 },
  });
  const r = await createVm(scenario, { trace }).run();
  if (r.status !== 'completed') throw new Error(`bench run ${r.status}: ${r.failure?.message}`);
  return pick(r.vcpus[0].wake_latency_ns);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runBench(flags: { json?: boolean; samples?: number; rounds?: number; trace?: boolean }): Promise<number> {
  const samples = flags.samples ?? 5000;
  const rounds = flags.rounds ?? 5;
  const log = (s: string) => !flags.json && process.stderr.write(s);
  const runs: Record<'raw_atomics' | 'blocked' | 'raw_spin' | 'polling' | 'blocked_traced' | 'polling_traced', Measured[]> = {
    raw_atomics: [],
    blocked: [],
    raw_spin: [],
    polling: [],
    blocked_traced: [],
    polling_traced: [],
  };
  for (let round = 1; round <= rounds; round++) {
    log(`round ${round}/${rounds}: raw atomics… `);
    runs.raw_atomics.push(await raw('atomics', samples));
    log('haltlab blocked… ');
    runs.blocked.push(await haltlab(0, samples));
    log('raw spin… ');
    runs.raw_spin.push(await raw('spin', samples));
    log('haltlab polling…\n');
    // A ceiling far above the gaps: after a few halts the window covers every gap and each wake is a successful poll.
    runs.polling.push(await haltlab(1_000_000_000, samples));
    if (flags.trace) {
      log('          the same with --trace recording… ');
      runs.blocked_traced.push(await haltlab(0, samples, true));
      runs.polling_traced.push(await haltlab(1_000_000_000, samples, true));
      log('\n');
    }
  }
  // Real KVM's exit round trip through the kvm backend's vCPU loop, against a C loop (when /dev/kvm is usable).
  const kvmExits = await benchKvmExits(rounds, 1, log);
  const med = (k: keyof typeof runs): Measured => ({
    p50_ns: median(runs[k].map((m) => m.p50_ns)),
    p99_ns: median(runs[k].map((m) => m.p99_ns)),
    count: runs[k].reduce((a, m) => a + m.count, 0),
  });
  const result = {
    blocked: med('blocked'),
    polling: med('polling'),
    raw_atomics: med('raw_atomics'),
    raw_spin: med('raw_spin'),
    ratios: {
      blocked_p50_vs_raw_atomics: 0,
      polling_p50_vs_raw_spin: 0,
      blocked_p99_vs_raw_atomics: 0,
      polling_p99_vs_raw_spin: 0,
    },
    ...(flags.trace && {
      tracing: {
        blocked: med('blocked_traced'),
        polling: med('polling_traced'),
        blocked_p50_traced_vs_untraced: median(runs.blocked_traced.map((m) => m.p50_ns)) / median(runs.blocked.map((m) => m.p50_ns)),
        polling_p50_traced_vs_untraced: median(runs.polling_traced.map((m) => m.p50_ns)) / median(runs.polling.map((m) => m.p50_ns)),
      },
    }),
    kvm_exits: kvmExits,
    per_round: runs,
    method: { samples_per_measurement: samples, rounds, gap_ns: GAP_NS, jitter: JITTER, statistic: 'median over rounds of each round’s percentile' },
    machine: { cores: availableParallelism(), cpu_model: cpus()[0]?.model ?? 'unknown', node: process.version },
  };
  const r = result.ratios;
  r.blocked_p50_vs_raw_atomics = result.blocked.p50_ns / result.raw_atomics.p50_ns;
  r.polling_p50_vs_raw_spin = result.polling.p50_ns / result.raw_spin.p50_ns;
  r.blocked_p99_vs_raw_atomics = result.blocked.p99_ns / result.raw_atomics.p99_ns;
  r.polling_p99_vs_raw_spin = result.polling.p99_ns / result.raw_spin.p99_ns;
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const us = (ns: number) => (ns / 1000).toFixed(2).padStart(9);
  const row = (name: string, m: Measured, ratio = '') => `${name.padEnd(30)}${us(m.p50_ns)}${us(m.p99_ns)}   ${ratio}`;
  const x = (v: number, target: number) => `${v.toFixed(2)}x (target <= ${target}x)`;
  process.stdout.write(
    [
      `wake latency, interrupt pending -> guest runs (µs); median of ${rounds} rounds x ${samples} wakeups, gap ${GAP_NS / 1000} µs ±${JITTER * 100}%`,
      `${''.padEnd(30)}${'p50'.padStart(9)}${'p99'.padStart(9)}   haltlab / raw, p50`,
      row('raw Atomics.wait/notify', result.raw_atomics),
      row('haltlab, vCPU blocked', result.blocked, x(r.blocked_p50_vs_raw_atomics, 1.3)),
      row('raw spin on Atomics.load', result.raw_spin),
      row('haltlab, vCPU halt-polling', result.polling, x(r.polling_p50_vs_raw_spin, 1.5)),
      `p99 ratios: blocked ${r.blocked_p99_vs_raw_atomics.toFixed(2)}x, polling ${r.polling_p99_vs_raw_spin.toFixed(2)}x`,
      ...(result.tracing
        ? [
            row('haltlab blocked, tracing', result.tracing.blocked, `${result.tracing.blocked_p50_traced_vs_untraced.toFixed(2)}x untraced`),
            row('haltlab polling, tracing', result.tracing.polling, `${result.tracing.polling_p50_traced_vs_untraced.toFixed(2)}x untraced`),
          ]
        : []),
      kvmExits.ratio !== null
        ? `kvm backend, KVM_EXIT_IO round trips: ${Math.round(median(kvmExits.haltlab_exits_per_s))}/s vs a C loop's ${Math.round(median(kvmExits.c_exits_per_s))}/s: ${kvmExits.ratio.toFixed(2)}x (target >= 0.95x)`
        : `kvm backend exit rate: not measured here: ${kvmExits.skipped}`,
      '',
    ].join('\n'),
  );
  return 0;
}
