import { writeFileSync } from 'node:fs';
import { clearLine, cursorTo } from 'node:readline';
import { createVm } from '../host/vm.ts';
import type { AnyRunResult, Backend } from '../host/results.ts';
import { ScenarioError, type Scenario } from '../scenarios/schema.ts';
import type { FaultSpec } from '../host/faults.ts';

/**
 * Running scenarios from the command line: one Ctrl-C stops the run in
 * progress (its partial results are printed), a second one leaves at once; a
 * progress line on stderr for runs longer than a second when it is a terminal.
 */

export interface Session {
  readonly signal: AbortSignal;
  dispose(): void;
}

export function sigintSession(): Session {
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130); // a second Ctrl-C: leave now
    process.stderr.write('\nhaltlab: stopping (Ctrl-C again to quit at once)…\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: ac.signal, dispose: () => process.off('SIGINT', onSigint) };
}

export interface ExecuteOptions {
  signal: AbortSignal;
  quiet?: boolean;
  /** Shown before the progress figures, e.g. "policy 2/3 no-poll". */
  label?: string;
  /** Write a Chrome Trace Event JSON of the run here. */
  trace?: string;
  faults?: FaultSpec[];
  /** `model` (the default) or `kvm`: this machine's /dev/kvm. */
  backend?: Backend;
}

export const progressWanted = (quiet?: boolean) => !quiet && process.stderr.isTTY === true;

/** Rewrite the progress line in place (readline's cursor moves: the terminal's own codes, not ours). */
export function progressLine(text: string): void {
  cursorTo(process.stderr, 0);
  clearLine(process.stderr, 0);
  process.stderr.write(text);
}

/** Live figures for the progress line, from whichever backend runs. */
interface Progress {
  elapsed_s: number;
  interrupts: number;
  halt_exits: number;
  halt_successful_poll: number;
}

export async function execute(scenario: Scenario, opts: ExecuteOptions): Promise<AnyRunResult> {
  if (opts.backend === 'kvm') {
    if (opts.trace !== undefined) throw new ScenarioError(['--trace records the model’s threads; on real KVM, use the kernel’s own tracing (perf kvm stat, trace-cmd -e kvm)'], '--backend kvm', 'invalid option');
    const { KvmRun } = await import('../real-kvm/run.ts');
    const run = new KvmRun(scenario);
    return withProgress(scenario, opts, () => {
      const sum = (k: string) => run.stats().reduce((a, s) => a + (s[k] ?? 0), 0);
      return { elapsed_s: run.elapsedS(), interrupts: sum('irq_injections'), halt_exits: sum('halt_exits'), halt_successful_poll: sum('halt_successful_poll') };
    }, () => run.run({ signal: opts.signal, faults: opts.faults }));
  }
  const vm = createVm(scenario, { trace: opts.trace !== undefined });
  const result = await withProgress(scenario, opts, () => vm.live(), () => vm.run({ signal: opts.signal, faults: opts.faults }));
  if (opts.trace !== undefined) {
    const t = vm.writeTrace(opts.trace, { haltlab: result.haltlab.version, started_at: result.started_at, status: result.status });
    process.stderr.write(
      `haltlab: trace of ${t.events} events written to ${opts.trace}${t.dropped ? ` (${t.dropped} lost)` : ''}; open it in https://ui.perfetto.dev\n`,
    );
  }
  return result;
}

/** Run, with a progress line on stderr for runs longer than a second when it is a terminal. */
async function withProgress<R>(scenario: Scenario, opts: ExecuteOptions, live: () => Progress, run: () => Promise<R>): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  if (progressWanted(opts.quiet) && scenario.duration_s > 1) {
    let last = { t: 0, injections: 0 };
    timer = setInterval(() => {
      const c = live();
      if (c.elapsed_s === 0) return;
      const rate = (c.interrupts - last.injections) / Math.max(1e-3, c.elapsed_s - last.t);
      last = { t: c.elapsed_s, injections: c.interrupts };
      const polled = c.halt_exits ? (100 * c.halt_successful_poll) / c.halt_exits : 0;
      progressLine(
        `${opts.label ? `${opts.label} · ` : ''}${c.elapsed_s.toFixed(1)}/${scenario.duration_s} s · ` +
          `${c.interrupts} interrupts (${Math.round(rate)}/s) · ${c.halt_exits} halts, ${polled.toFixed(0)}% woken while polling`,
      );
    }, 250);
  }
  try {
    return await run();
  } finally {
    if (timer) {
      clearInterval(timer);
      progressLine('');
    }
  }
}

/**
 * Every command's output: `--json` alone prints the JSON, otherwise the
 * rendered text (a run that did not complete prints what it measured);
 * `--json FILE` also saves the JSON there. Nothing else is written.
 */
export function deliver(o: {
  json: string | boolean | undefined;
  value: unknown;
  render: () => string;
  status: string;
  /** e.g. "comparison", for the line that says where it was saved. */
  what: string;
}): void {
  const json = `${JSON.stringify(o.value, null, 2)}\n`;
  process.stdout.write(o.json === true ? json : `${o.render()}\n`);
  if (typeof o.json !== 'string') return;
  writeFileSync(o.json, json);
  process.stderr.write(`haltlab: ${o.what}${o.status === 'completed' ? '' : ` (${o.status}, partial)`} saved to ${o.json}\n`);
}
