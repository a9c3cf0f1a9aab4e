import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { RunResult } from '../host/results.ts';
import type { Scenario, ScenarioInput } from '../scenarios/schema.ts';
import { DemoSession } from '../demo/session.ts';
import { startDemoServer } from '../demo/server.ts';
import { deliver } from './execute.ts';
import { renderRun } from './table.ts';

/**
 * `haltlab demo`: the VM runs until the demo is stopped; the page follows it
 * live. Ctrl-C (or SIGTERM) stops the VM and its threads and the server, then
 * prints and saves the results of the run so far. A VM that fails (a crashed
 * actor) stops the demo the same way, with the reason.
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

export async function demoCommand(input: ScenarioInput, scenario: Scenario, flags: { port: number; json?: string | boolean }, warnings: string[] = []): Promise<number> {
  let finish!: (why: { signal?: string; result?: RunResult }) => void;
  const finished = new Promise<{ signal?: string; result?: RunResult }>((r) => (finish = r));
  const session = new DemoSession(input, (result) => finish({ result }));
  session.start();
  let server;
  try {
    server = await startDemoServer(session, flags.port);
  } catch (e) {
    await session.stop();
    process.stderr.write(`haltlab: ${(e as Error).message}\n`);
    return 2;
  }
  process.stdout.write(`haltlab demo: ${scenario.name} on ${scenario.vm.vcpus} vCPU / ${scenario.host.pcpus} pCPU at ${server.url}\n`);
  process.stdout.write(`haltlab demo: ${howToOpen(server.url, server.port)}; Ctrl-C stops the VM and the server\n`);
  const onSignal = (signal: string) => () => finish({ signal });
  const sigint = onSignal('SIGINT');
  const sigterm = onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  const why = await finished;
  process.off('SIGINT', sigint);
  process.off('SIGTERM', sigterm);
  if (why.signal) process.stderr.write(`\nhaltlab demo: ${why.signal}: stopping the VM and the server…\n`);
  await server.close();
  const result = why.result ?? (await session.stop());
  if (!result) return 0;
  result.warnings.unshift(...warnings);
  deliver({ json: flags.json, value: result, render: () => renderRun(result), status: result.status, what: `${result.scenario.name} demo results` });
  if (result.status === 'failed') {
    process.stderr.write(`haltlab: the demo's VM failed in ${result.failure?.actor}: ${result.failure?.message}\n`);
    return 1;
  }
  return 0;
}
