import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { AnyRunResult, Backend } from '../host/results.ts';
import type { Scenario, ScenarioInput } from '../scenarios/schema.ts';
import { DemoSession } from '../demo/session.ts';
import { startDemoServer } from '../demo/server.ts';
import { sessionDocument, type SessionDocument, type SessionEnd } from '../demo/summary.ts';
import { deliver } from './execute.ts';
import { grid } from './table.ts';

/**
 * `haltlab demo`: the VM runs until the demo is stopped (Ctrl-C, SIGTERM, or
 * --duration); the page follows it live. Stopping ends the VM, its threads
 * and the server, then prints the session summary, one row per configuration
 * segment (saved with --json FILE). A VM that fails (a crashed actor) stops
 * the demo the same way, with the reason.
 */

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** How to open the page from here: a desktop opener if there is a display, else an SSH tunnel. */
export function howToOpen(url: string, port: number): string {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  const display = process.platform === 'darwin' || process.env.DISPLAY || process.env.WAYLAND_DISPLAY;
  if (display && onPath(opener)) return `open it with: ${opener} ${url}`;
  return `no desktop here to open a browser: from your machine, ssh -L ${port}:127.0.0.1:${port} THIS-HOST, then open ${url}`;
}

const fmtUs = (ns: number) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);

/** The session summary as a table: a row per configuration segment. */
export function renderSession(d: SessionDocument): string {
  const s = d.scenario;
  const paused = d.segments.reduce((a, x) => a + x.paused_s, 0);
  const lines = [
    `haltlab demo · ${s.name} (${s.workload.kind}) · ${s.vm.vcpus} vCPU on ${s.host.pcpus} pCPU · ${d.elapsed_s.toFixed(1)} s` +
      (paused > 0 ? ` (${paused.toFixed(1)} s paused, left out of every figure)` : '') +
      (d.stopped_by ? ` · stopped by ${d.stopped_by}` : ''),
    `machine: ${d.machine.cores} cores, ${d.machine.cpu_model}, Node ${d.machine.node}`,
    ...(d.failure ? [`FAILED in ${d.failure.actor}: ${d.failure.message}`] : []),
    '',
    'one row per configuration: each boot and each knob changed in place starts one (wake latency within ~9%: live histogram buckets)',
    grid(
      ['', 'from s', 'running s', 'started by', 'halt_poll_ns', 'guest idle', 'wake p50 µs', 'p99 µs', 'wakeups', 'CPU/vCPU %', 'halts/s', 'polled %'],
      d.segments.map((x) => [
        String(x.segment),
        x.from_s.toFixed(1),
        x.running_s.toFixed(1),
        x.started_by,
        x.config.kvm_cap_halt_poll !== null ? `cap ${x.config.kvm_cap_halt_poll}` : x.config.kvm.halt_poll_ns,
        x.config.guest_idle,
        fmtUs(x.wake_latency_ns.p50),
        fmtUs(x.wake_latency_ns.p99),
        x.wake_latency_ns.count,
        x.vcpu_cost_pct.toFixed(1),
        Math.round(x.halt.halt_exits_per_s),
        x.halt.halt_exits_per_s > 0 ? ((100 * x.halt.halt_successful_poll_per_s) / x.halt.halt_exits_per_s).toFixed(0) : '–',
      ]),
    ),
  ];
  return lines.join('\n');
}

export async function demoCommand(
  input: ScenarioInput,
  scenario: Scenario,
  flags: { port: number; json?: string | boolean; durationS?: number; backend?: Backend },
): Promise<number> {
  type Why = { stoppedBy: SessionEnd['stopped_by']; result?: AnyRunResult };
  let finish!: (why: Why) => void;
  const finished = new Promise<Why>((r) => (finish = r));
  const session = new DemoSession(input, (result) => finish({ stoppedBy: 'failure', result }), [], flags.backend ?? 'model');
  session.start();
  let server;
  try {
    server = await startDemoServer(session, flags.port);
  } catch (e) {
    await session.stop();
    process.stderr.write(`haltlab: ${(e as Error).message}\n`);
    return 2;
  }
  const until = flags.durationS !== undefined ? `; it stops by itself after ${flags.durationS} s` : '';
  const where = flags.backend === 'kvm' ? 'of real KVM (/dev/kvm)' : `/ ${scenario.host.pcpus} pCPU`;
  process.stdout.write(`haltlab demo: ${scenario.name} on ${scenario.vm.vcpus} vCPU ${where} at ${server.url}\n`);
  process.stdout.write(`haltlab demo: ${howToOpen(server.url, server.port)}; Ctrl-C stops the VM and the server${until}\n`);
  const sigint = () => finish({ stoppedBy: 'SIGINT' });
  const sigterm = () => finish({ stoppedBy: 'SIGTERM' });
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  // --duration counts the guest's running time, as a run's does: from the end of thread start-up.
  let timer: NodeJS.Timeout | undefined;
  if (flags.durationS !== undefined) void session.running.then(() => (timer = setTimeout(() => finish({ stoppedBy: 'duration' }), flags.durationS! * 1000)));
  const why = await finished;
  clearTimeout(timer);
  process.off('SIGINT', sigint);
  process.off('SIGTERM', sigterm);
  if (why.stoppedBy === 'SIGINT' || why.stoppedBy === 'SIGTERM') process.stderr.write(`\nhaltlab demo: ${why.stoppedBy}: stopping the VM and the server…\n`);
  await server.close();
  const result = why.result ?? (await session.stop());
  const doc = sessionDocument(session.summary(), { stopped_by: why.stoppedBy, failure: result?.status === 'failed' ? result.failure : null });
  deliver({ json: flags.json, value: doc, render: () => renderSession(doc), status: doc.failure ? 'failed' : 'completed', what: 'demo session summary' });
  if (doc.failure) {
    process.stderr.write(`haltlab: the demo's VM failed in ${doc.failure.actor}: ${doc.failure.message}\n`);
    return 1;
  }
  // Ctrl-C is how a demo ends: the shell's 130 for an interrupted command; --duration or SIGTERM end it as asked.
  return why.stoppedBy === 'SIGINT' ? 130 : 0;
}
