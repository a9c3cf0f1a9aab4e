import { Worker } from 'node:worker_threads';
import { memoryUsage } from 'node:process';
import { now } from './clock.ts';

/**
 * The floor for starting many actors: `n` bare ES-module workers that only wait on a shared word,
 * started as actors are (a Worker on an ES module with workerData, no extra flags, output not
 * piped), measured in the calling process: from the first `new Worker` until every one has said it
 * started, the process's peak RSS meanwhile, and how long they take to go once told to stop.
 */

export interface BareWorkersBaseline {
  threads: number;
  start_s: number;
  rss_before_bytes: number;
  /** Sampled every 100 ms from the first spawn until the workers are told to stop (`hold_ms` after all started). */
  rss_peak_bytes: number;
  teardown_s: number;
}

const MODULE = new URL('./bare-worker.mjs', import.meta.url);

export async function bareWorkersBaseline(n: number, opts: { holdMs?: number; timeoutMs?: number } = {}): Promise<BareWorkersBaseline> {
  const sab = new SharedArrayBuffer(8);
  const w = new Int32Array(sab);
  const rssBefore = memoryUsage.rss();
  let rssPeak = rssBefore;
  const sample = setInterval(() => (rssPeak = Math.max(rssPeak, memoryUsage.rss())), 100);
  let failed: Error | undefined;
  const workers: Worker[] = [];
  const exited: Promise<unknown>[] = [];
  const t0 = now();
  try {
    for (let i = 0; i < n; i++) {
      const worker = new Worker(MODULE, { workerData: { sab }, execArgv: [], name: `bare${i}`, stdout: false, stderr: false });
      worker.on('error', (e: Error) => (failed ??= e));
      exited.push(new Promise((resolve) => worker.once('exit', resolve)));
      workers.push(worker);
    }
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    for (let s = Atomics.load(w, 0); s < n && !failed && Date.now() < deadline; s = Atomics.load(w, 0)) {
      const r = Atomics.waitAsync(w, 0, s, 100);
      if (r.async) await r.value;
    }
    if (failed) throw new Error(`a bare worker failed to start: ${failed.message}`);
    if (Atomics.load(w, 0) < n) throw new Error(`${Atomics.load(w, 0)} of ${n} bare workers started within ${opts.timeoutMs ?? 120_000} ms`);
    const startS = (now() - t0) / 1e9;
    await new Promise((r) => setTimeout(r, opts.holdMs ?? 500));
    rssPeak = Math.max(rssPeak, memoryUsage.rss());
    clearInterval(sample);
    const t1 = now();
    Atomics.store(w, 1, 1);
    Atomics.notify(w, 1);
    await Promise.all(exited);
    return { threads: n, start_s: startS, rss_before_bytes: rssBefore, rss_peak_bytes: rssPeak, teardown_s: (now() - t1) / 1e9 };
  } finally {
    clearInterval(sample);
    Atomics.store(w, 1, 1);
    Atomics.notify(w, 1);
    await Promise.all(workers.map((x) => x.terminate()));
  }
}
