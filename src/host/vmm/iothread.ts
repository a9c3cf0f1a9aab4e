import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { Piscina } from 'piscina';
import { now } from '../../actors/clock.ts';
import { LatencyRecorder, type EncodedLatency } from '../../actors/latency-recorder.ts';
import { kvmSetIrqPending, kvmVcpuKickForInterrupt } from '../kvm/kick.ts';
import { vcpuRecords } from '../layout.ts';
import { RUN_STATE } from '../thread-state.ts';
import { serveVmActor, STOP_CHECK_NS, type VmActorConfig } from '../vm-actor.ts';
import { AIO } from './aio-context.ts';
import { adjustPollingTime, type AioPollParams } from './aio-poll.ts';
import type { BlockBackendConfig } from './block-backend.ts';
import { allocateBlockPoolRings, BlockPoolHeader, CLOSE_QUEUE, POOL_RING_CAPACITY, poolRings, type BlockServeTask } from './block-pool.ts';
import type { BlockWorkerData } from './block-worker.ts';

/**
 * A QEMU IOThread running a virtio-blk device with one request queue per vCPU
 * (num-queues = vCPUs, each queue's interrupt aimed at its vCPU). Its event
 * loop is aio_poll(): busy-poll the queues' ioeventfds and the thread pool's
 * completions for up to poll.ns (adaptive, aio-poll.ts), else sleep until one
 * is signalled; then take each new request to the block backend's thread pool
 * and complete each finished one by raising its queue's interrupt (an irqfd:
 * make the line pending, kvm_vcpu_kick).
 *
 * The pool is piscina's, but a request reaches a pool thread through that
 * thread's shared ring and comes back through its completion ring plus the
 * AioContext's completion word (block-pool.ts): each pool thread runs one
 * long-lived piscina task, started before the run. So the loop sleeps in a
 * plain Atomics.wait, one futex-class wakeup per hop as QEMU pays; it turns
 * its event loop only when a sleep times out (to notice a pool thread that died).
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
    const rings = allocateBlockPoolRings(cfg.pool_threads);
    const header = new BlockPoolHeader(rings);
    const pairs = Array.from({ length: cfg.pool_threads }, (_, i) => poolRings(rings, i));
    let serving: Promise<unknown>[] = [];
    const counts = { submitted: 0, completed: 0, polled: 0, blocked: 0, ready: 0, poll_time_ns: 0 };
    let pollNs = 0;
    const service = new LatencyRecorder();
    let serviceSpinNs = 0;
    const state = (s: number, at = now()) => thread.enter(s, at);
    return {
      async ready(): Promise<boolean> {
        // piscina's CommonJS entry: its class is the module's export (or a property of it).
        const mod = (await import(cfg.piscina_url)) as { Piscina?: typeof Piscina; default?: { Piscina?: typeof Piscina } };
        const Pool = mod.Piscina ?? mod.default?.Piscina;
        if (!Pool) throw new Error(`no Piscina class in ${cfg.piscina_url}`);
        const workerData: BlockWorkerData = { sab: mem.sab, layout: mem.layout, aio: cfg.aio, backend: cfg.backend };
        pool = new Pool({ filename: cfg.worker_url, minThreads: cfg.pool_threads, maxThreads: cfg.pool_threads, idleTimeout: Number.MAX_SAFE_INTEGER, workerData });
        // The pool's threads up and loaded, then each in its serve task, before the run starts.
        await Promise.all(Array.from({ length: cfg.pool_threads }, () => pool!.run(null, { name: 'warm' })));
        serving = pairs.map((_, index) =>
          pool!.run({ ...rings, index } satisfies BlockServeTask, { name: 'serve' }).catch((e: Error) => {
            failure ??= new Error(`block backend: ${e.message}`);
          }),
        );
        await header.waitStarted(cfg.pool_threads, 30_000);
        if (failure) throw failure;
        if (header.started < cfg.pool_threads) throw new Error(`block backend: ${header.started} of ${cfg.pool_threads} pool threads started serving within 30 s`);
        return true;
      },

      async loop(): Promise<void> {
        const taken = new Int32Array(cfg.queues); // ioeventfd counts consumed (requests taken)
        const done = new Int32Array(cfg.queues); // completions handled
        const inFlight = new Int32Array(cfg.pool_threads); // per pool thread: pushed, completion not yet drained
        const backlog: number[] = []; // queues of requests waiting for room on a pool thread's ring
        const req = new Float64Array(2);
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
        // thread_pool_submit(): the least-loaded pool thread's ring (an idle one while there is one).
        const submit = (): boolean => {
          let best = 0;
          for (let i = 1; i < inFlight.length; i++) if (inFlight[i] < inFlight[best]) best = i;
          if (inFlight[best] >= POOL_RING_CAPACITY) return false;
          req[0] = backlog.shift()!;
          req[1] = (nextBlock++ % slots) * blockBytes;
          pairs[best].requests.tryPush(req);
          inFlight[best]++;
          return true;
        };
        const record = (c: Float64Array) => {
          service.record(c[1]);
          serviceSpinNs += c[2];
        };
        while (!stopping()) {
          if (failure) throw failure;
          if (header.failed) {
            // The failing task rejects right after it set the flag: wait for its message.
            for (let t = 0; !failure && t < 1000; t++) await sleep(1);
            throw failure ?? new Error('block backend: a pool thread failed');
          }
          checkFault('in aio_poll');
          // aio_poll(blocking = true)
          const begin = now();
          const seen = aio.load('notify');
          let timedOut = false;
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
              timedOut = Atomics.wait(aio.i32, aio.I.notify, seen, STOP_CHECK_NS / 1e6) === 'timed-out';
            }
          }
          const blockNs = now() - begin;
          if (cfg.poll.poll_max_ns > 0) {
            pollNs = adjustPollingTime(pollNs, blockNs, cfg.poll);
            aio.set('poll_ns', pollNs);
          }
          state(RUN_STATE.VMM);
          // Completions first (their records free ring room), then new requests to the pool, then interrupts.
          for (let i = 0; i < pairs.length; i++) inFlight[i] -= pairs[i].completions.drain(record);
          for (let q = 0; q < cfg.queues; q++) {
            const kicks = Atomics.load(aio.i32, eventfd + q);
            for (; taken[q] !== kicks; taken[q]++) {
              counts.submitted++;
              backlog.push(q);
            }
          }
          while (backlog.length > 0 && submit());
          for (let q = 0; q < cfg.queues; q++) {
            const finished = Atomics.load(aio.i32, completed + q);
            for (; done[q] !== finished; done[q]++) {
              counts.completed++;
              kvmSetIrqPending(vcpus[q], cfg.line, now());
              kvmVcpuKickForInterrupt(vcpus[q]); // irqfd: posted when the vCPU runs guest code with APICv
            }
          }
          // An idle stretch: let piscina report a pool thread that died (its task's rejection is a message).
          if (timedOut) await yieldToEventLoop();
        }
        // A completion counted in the last pass may have pushed its record after that pass drained
        // the rings (the pool thread pushes, then signals): take those service times too.
        for (const p of pairs) p.completions.drain(record);
      },

      /** End every serve task (a close record on its ring; a full ring's thread sees the stop word), then the pool. */
      async teardown(): Promise<void> {
        const close = new Float64Array([CLOSE_QUEUE, 0]);
        for (const p of pairs) p.requests.tryPush(close);
        await Promise.race([Promise.allSettled(serving), sleep((2 * STOP_CHECK_NS) / 1e6)]);
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
