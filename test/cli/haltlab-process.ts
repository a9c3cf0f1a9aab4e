import { spawn } from 'node:child_process';

// Runs the haltlab command line as a user does: a separate process, its exit code, output and files.

const BIN = new URL('../../bin/haltlab.mjs', import.meta.url).pathname;

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Without colour unless a test asks for it (`env`): picocolors also colours piped output under
 * CI=true or FORCE_COLOR, and a test's expected text must not depend on where it runs.
 */
export function haltlab(args: string[], opts: { cwd?: string; sigintAfterMs?: number; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const env = opts.env ?? { ...process.env, NO_COLOR: '1' };
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      // Interrupt a while after the run starts (its threads take a moment to come up, more on a loaded machine).
      if (opts.sigintAfterMs !== undefined && /running|policy 1\//.test(stderr)) {
        const t = opts.sigintAfterMs;
        opts.sigintAfterMs = undefined;
        setTimeout(() => child.kill('SIGINT'), t);
      }
    });
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`haltlab ${args.join(' ')} did not exit within ${opts.timeoutMs ?? 30_000} ms\n${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
