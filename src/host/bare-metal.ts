import { now } from '../actors/clock.ts';
import { LatencyRecorder, type EncodedLatency } from '../actors/histogram.ts';
import { RUN_STATE } from './thread-state.ts';
import { serveVmActor, type VmActorConfig } from './vm-actor.ts';
import type { BlockBackendConfig } from './vmm/block-backend.ts';
import { BlockWriter } from './vmm/block-writer.ts';

/**
 * dsync-io on bare metal: the guest's loop with no VM under it, as `dd
 * oflag=dsync` on the host. Each thread writes a block and waits for it in
 * the write itself (the kernel's own block-and-wake), then writes the next:
 * no exits, no I/O thread, no thread pool. The floor the seed compares with.
 */

export interface BareMetalConfig extends VmActorConfig {
  backend: BlockBackendConfig;
}

export interface BareMetalSnapshot {
  requests: number;
  io_latency: EncodedLatency;
}

serveVmActor<BareMetalConfig, BareMetalSnapshot>(
  ({ config: cfg, thread, stopping, checkFault }) => {
    const writer = new BlockWriter(cfg.backend);
    const latency = new LatencyRecorder();
    let requests = 0;
    return {
      loop(): void {
        try {
          while (!stopping()) {
            checkFault('between writes');
            const begin = now();
            thread.enter(RUN_STATE.BLOCKED, begin); // in the write: the kernel blocks the thread
            writer.write(writer.nextOffset());
            const end = now();
            thread.enter(RUN_STATE.GUEST, end);
            latency.record(end - begin);
            requests++;
          }
        } finally {
          writer.close();
        }
      },
      snapshot: () => ({ requests, io_latency: latency.encode() }),
    };
  },
  { state: RUN_STATE.GUEST },
);
