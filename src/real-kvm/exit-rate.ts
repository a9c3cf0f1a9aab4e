import { spawnActor } from '../actors/actor.ts';
import { RunControl } from './control.ts';
import { KvmVm } from './kvm-vm.ts';
import { installKickHandler, koffiPath, libc, SIG_KICK_NUMBER } from './libc.ts';
import { KVM_RUN_OFFSET } from './uapi.ts';
import type { KvmVcpuThreadApi, KvmVcpuThreadConfig, KvmVcpuThreadSnapshot } from './vcpu-thread.ts';

/**
 * KVM_EXIT_IO round trips per second through the kvm backend's own vCPU thread: the guest at
 * exit_loop (OUT to the debug port, jump back), the thread's KVM_RUN loop counting each exit and
 * re-entering. The kernel's part of a round trip is the exit cost the model's exit_cost_ns stands
 * for; the rest is haltlab's loop (`npm run bench` sets it beside a C loop's).
 */

export interface ExitRate {
  exits: number;
  seconds: number;
  exits_per_s: number;
  /** One round trip, ns (1e9 / exits_per_s). */
  round_trip_ns: number;
}

export async function measureExitRate(seconds: number): Promise<ExitRate> {
  const c = libc();
  installKickHandler();
  const vm = new KvmVm(c, { vcpus: 1, haltPollNs: null, timerDeltaNs: 0, devices: false, entry: 'exit_loop' });
  const ctl = RunControl.allocate(1);
  const v = vm.vcpus[0];
  const thread = spawnActor<KvmVcpuThreadApi>(new URL('./vcpu-thread.ts', import.meta.url), {
    name: 'vcpu0',
    sab: ctl.mem.sab,
    layout: ctl.mem.layout,
    config: { id: 0, fd: v.fd, run: v.run, runSize: vm.runSize, koffi: koffiPath() } satisfies KvmVcpuThreadConfig,
  });
  try {
    await thread.call(thread.api.ready());
    const running = thread.call(Promise.resolve(thread.api.run()));
    await new Promise((r) => setTimeout(r, seconds * 1000));
    ctl.vmm.store('stop', 1);
    new DataView(c.view(v.run, vm.runSize)).setUint8(KVM_RUN_OFFSET.immediate_exit, 1);
    c.tgkill(process.pid, ctl.thread(0), SIG_KICK_NUMBER);
    await running;
    const snap = (await thread.call(Promise.resolve(thread.api.snapshot()))) as KvmVcpuThreadSnapshot;
    const secs = snap.wall_ns / 1e9;
    const rate = snap.debug_port_exits / secs;
    return { exits: snap.debug_port_exits, seconds: secs, exits_per_s: rate, round_trip_ns: 1e9 / rate };
  } finally {
    await thread.terminate();
    vm.close();
  }
}
