import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { actorBundle } from '../../actors/bundle.ts';
import { decodeLatency, mergeLatency, summarize } from '../../actors/histogram.ts';
import { VIRTIO_BLK_NOTIFY_PORT } from '../../guest/kernel/vectors.ts';
import { dsyncIo } from '../../guest/workloads/dsync-io.ts';
import { kvmIoeventfd } from '../../host/kvm/ioeventfd.ts';
import { LINE } from '../../host/kvm/vcpu-state.ts';
import { createBlockBackend } from '../../host/vmm/block-backend.ts';
import type { IothreadConfig, IothreadSnapshot } from '../../host/vmm/iothread.ts';
import { defineWorkload, type Cost } from '../module.ts';

const IOTHREAD_MODULE = new URL('../../host/vmm/iothread.ts', import.meta.url);
const BLOCK_WORKER_MODULE = new URL('../../host/vmm/block-worker.ts', import.meta.url);
/** QEMU's thread pool grows to 64 threads; one request per vCPU is outstanding here. */
const BLOCK_POOL_MAX_THREADS = 64;

export default defineWorkload({
  schema: z.strictObject({
    kind: z.literal('dsync-io'),
    backend: z.enum(['file', 'synthetic']).default('file').describe('`file`: O_DSYNC writes to a temporary file (real disk latency); `synthetic`: a device with a fixed service time'),
    block_size: z.int().min(512).max(1024 * 1024).default(4096).describe('bytes per write (dd’s bs)'),
    synthetic_latency_ns: z.int().min(1_000).max(100_000_000).default(50_000).describe('the synthetic device’s service time per request, ns'),
    bare_metal: z.boolean().default(false).describe('no VM: one plain thread per vCPU writes and waits in the write itself, as dd on the host'),
  }),
  summary: 'one synchronous 4 KiB write outstanding per vCPU: virtio-blk, an I/O thread, O_DSYNC writes to a temp file on a thread pool; requests/s',
  source: 'the halt-polling RFC’s dd oflag=dsync benchmark (seeds/002); QEMU virtio-blk + IOThread + thread pool',
  program: (_w, kernel) => dsyncIo({ kernel }),
  withoutVm: (w) => w.bare_metal,
  iothreads: () => 1,
  // virtio-blk: the queue-notify register is an ioeventfd of I/O thread 0's context.
  setUpVm: (kvm, _w, vcpus) => kvmIoeventfd(kvm, VIRTIO_BLK_NOTIFY_PORT, 0, vcpus),
  vmmThreads: (w, { vcpus, slots, iothread }) => {
    // The backend file exists from here until the run's threads are gone, whatever happens.
    const backend = createBlockBackend(w.backend, w.block_size, w.synthetic_latency_ns);
    return {
      threads: [
        {
          name: 'iothread0',
          module: IOTHREAD_MODULE,
          config: {
            queues: vcpus,
            line: LINE.VIRTIO_BLK,
            poll: iothread,
            backend: backend.config,
            pool_threads: Math.min(vcpus, BLOCK_POOL_MAX_THREADS),
            worker_url: actorBundle(BLOCK_WORKER_MODULE).href,
            piscina_url: pathToFileURL(createRequire(import.meta.url).resolve('piscina')).href,
            slot: slots.iothread(0),
            aio: 0,
          } satisfies IothreadConfig,
        },
      ],
      release: () => backend.remove(),
    };
  },
  result: (w, { wallS, vmm, vcpuSnaps, iothread }) => {
    const block = vmm[0] as Cost<IothreadSnapshot> | undefined;
    if (!block) return {};
    return {
      block: {
        backend: w.backend,
        block_size: w.block_size,
        bare_metal: false,
        requests_submitted: block.requests_submitted,
        requests_completed: block.requests_completed,
        requests_per_s: wallS > 0 ? block.requests_completed / wallS : 0,
        io_latency_ns: summarize(mergeLatency(vcpuSnaps.map((s) => s.io_latency))),
        service_ns: summarize(decodeLatency(block.service)),
        service_spin_s: block.service_spin_ns / 1e9,
        iothread: {
          ...iothread,
          cpu_pct: block.wall_ns > 0 ? (100 * block.thread_cpu_ns) / block.wall_ns : 0,
          aio_poll: block.aio_poll,
        },
      },
    };
  },
});
