import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Piscina } from 'piscina';
import { now } from '../../actors/clock.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/histogram.ts';
import { kvmSetIrqPending, kvmVcpuKickForInterrupt } from '../kvm/kick.ts';
import { vcpuRecords } from '../layout.ts';
import { RUN_STATE } from '../thread-state.ts';
import { serveVmActor, STOP_CHECK_NS, type VmActorConfig } from '../vm-actor.ts';
import { AIO } from './aio-context.ts';
import { adjustPollingTime, type AioPollParams } from './aio-poll.ts';
import type { BlockBackendConfig } from './block-backend.ts';
import type { BlockRequest, BlockWorkerData } from './block-worker.ts';
import type { BlockService } from './block-writer.ts';

/**
 * A QEMU IOThread running a virtio-blk device with one request queue per vCPU
 * (num-queues = vCPUs, each queue's interrupt aimed at its vCPU). Its event
 * loop is aio_poll(): busy-poll the queues' ioeventfds and the thread pool's
 * completions for up to poll.ns (adaptive, aio-poll.ts), else sleep until one
 * is signalled; then take each new request to the block backend's thread pool
 * (piscina) and complete each finished one by raising its queue's interrupt
 * (an irqfd: make the line pending, kvm_vcpu_kick).
 *
 * The loop is async so that piscina's own messages (a pool thread reporting
 * itself free) are taken while it sleeps; the wake-ups that matter never go
 * through messages.
 */

export interface IothreadConfig extends VmActorConfig {
  queues: number;
  line: number;
  poll: AioPollParams;
  backend: BlockBackendConfig;
  pool_threads: number;
  /** The block pool's worker module (bundled) and piscina's entry, both resolved by the main thread. */
  worker_url: string;
  piscina_url: string;
  /** Its AioContext record. */
  aio: number;
}

export interface IothreadSnapshot {
  requests_submitted: number;
  requests_completed: number;
  /** aio_poll() calls that found an event while polling, that slept, and that found one at once. */
  aio_poll: { polled: number; blocked: number; ready: number; poll_ns: number; poll_time_ns: number };
  /** The device's service time per request, as the pool threads measured it (replies taken so far). */
  service: EncodedLatency;
  /** Time the pool threads spun to the synthetic device's deadlines (their CPU). */
  service_spin_ns: number;
}

serveVmActor<IothreadConfig, IothreadSnapshot>(
  ({ config: cfg, mem, thread, stopping, checkFault }) => {
    const aio = mem.record(AIO, cfg.aio);
    const vcpus = Array.from({ length: cfg.queues }, (_, i) => vcpuRecords(mem, i));
    let pool: Piscina | undefined;
    let failure: Error | undefined;
    const counts = { submitted: 0, completed: 0, polled: 0, blocked: 0, ready: 0, poll_time_ns: 0 };
    let pollNs = 0;
    const service = new LatencyRecorder();
    let serviceSpinNs = 0;
    const served = (r: BlockService) => {
      service.record(r.service_ns);
      serviceSpinNs += r.spin_ns;
    };
    const state = (s: number, at = now()) => thread.enter(s, at);
    return {
      async ready(): Promise<boolean> {
        // piscina's CommonJS entry: its class is the module's export (or a property of it).
        const mod = (await import(cfg.piscina_url)) as { Piscina?: typeof Piscina; default?: { Piscina?: typeof Piscina } };
        const Pool = mod.Piscina ?? mod.default?.Piscina;
        if (!Pool) throw new Error(`no Piscina class in ${cfg.piscina_url}`);
        const workerData: BlockWorkerData = { sab: mem.sab, layout: mem.layout, aio: cfg.aio, backend: cfg.backend };
        pool = new Pool({ filename: cfg.worker_url, minThreads: cfg.pool_threads, maxThreads: cfg.pool_threads, idleTimeout: Number.MAX_SAFE_INTEGER, workerData });
        // The pool's threads up and loaded before the run starts.
        await Promise.all(Array.from({ length: cfg.pool_threads }, () => pool!.run(null, { name: 'warm' })));
        return true;
      },

      async loop(): Promise<void> {
        const taken = new Int32Array(cfg.queues); // ioeventfd counts consumed (requests taken)
        const done = new Int32Array(cfg.queues); // completions handled
        const blockBytes = cfg.backend.block_size;
        const slots = Math.floor(cfg.backend.file_bytes / blockBytes);
        let nextBlock = 0;
        const { eventfd, completed } = aio.I;
        const eventsPending = () => {
          for (let q = 0; q < cfg.queues; q++) {
            if (Atomics.load(aio.i32, eventfd + q) !== taken[q] || Atomics.load(aio.i32, completed + q) !== done[q]) return true;
          }
          return false;
        };
        while (!stopping()) {
          if (failure) throw failure;
          checkFault('in aio_poll');
          // aio_poll(blocking = true)
          const begin = now();
          const seen = aio.load('notify');
          if (eventsPending()) counts.ready++;
          else {
            let found = false;
            if (pollNs > 0) {
              state(RUN_STATE.POLLING, begin);
              const end = begin + pollNs;
              let t = begin;
              while (t < end && Atomics.load(aio.i32, aio.I.notify) === seen) t = now();
              counts.poll_time_ns += t - begin;
              found = aio.load('notify') !== seen;
            }
            if (found) counts.polled++;
            else {
              counts.blocked++;
              state(RUN_STATE.BLOCKED);
              const w = Atomics.waitAsync(aio.i32, aio.I.notify, seen, STOP_CHECK_NS / 1e6);
              if (w.async) await w.value;
            }
          }
          const blockNs = now() - begin;
          if (cfg.poll.poll_max_ns > 0) {
            pollNs = adjustPollingTime(pollNs, blockNs, cfg.poll);
            aio.set('poll_ns', pollNs);
          }
          state(RUN_STATE.VMM);
          // Dispatch: new requests to the pool, finished ones back to their vCPU.
          for (let q = 0; q < cfg.queues; q++) {
            const kicks = Atomics.load(aio.i32, eventfd + q);
            for (; taken[q] !== kicks; taken[q]++) {
              const req: BlockRequest = { queue: q, offset: (nextBlock++ % slots) * blockBytes };
              counts.submitted++;
              pool!.run(req).then(served, (e: Error) => (failure ??= new Error(`block backend: ${e.message}`)));
            }
            const finished = Atomics.load(aio.i32, completed + q);
            for (; done[q] !== finished; done[q]++) {
              counts.completed++;
              kvmSetIrqPending(vcpus[q], cfg.line, now());
              kvmVcpuKickForInterrupt(vcpus[q]); // irqfd: posted when the vCPU runs guest code with APICv
            }
          }
          // Requests piscina had to queue wait for a pool thread's "free" message: let it in.
          if (pool!.queueSize > 0) await yieldToEventLoop();
        }
      },

      async teardown(): Promise<void> {
        await pool?.destroy();
      },

      snapshot: () => ({
        requests_submitted: counts.submitted,
        requests_completed: counts.completed,
        aio_poll: { polled: counts.polled, blocked: counts.blocked, ready: counts.ready, poll_ns: pollNs, poll_time_ns: counts.poll_time_ns },
        service: service.encode(),
        service_spin_ns: serviceSpinNs,
      }),
    };
  },
  { state: RUN_STATE.VMM, preciseTimers: true },
);
