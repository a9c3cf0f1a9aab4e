import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { actorBundle } from '../../src/actors/bundle.ts';
import { Assembler } from '../../src/guest/assembler.ts';
import { GuestCpu } from '../../src/guest/interpreter.ts';
import { KvmVcpu } from '../../src/host/kvm/kvm-vcpu.ts';
import { kvmParamDefaults } from '../../src/host/kvm/params.ts';
import { readVcpuStats } from '../../src/host/kvm/stats.ts';
import { KVM_EXIT } from '../../src/host/kvm/uapi.ts';
import { kvmVcpuRun } from '../../src/host/kvm/vcpu.ts';
import { KVM, writeArch, writeKvmParams } from '../../src/host/kvm/vm-state.ts';
import { allocateVm } from '../../src/host/layout.ts';
import { Scheduler } from '../../src/host/sched/scheduler.ts';
import { TASK } from '../../src/host/sched/task-state.ts';

// The preempt notifiers (kvm_sched_in / kvm_sched_out): the host scheduler fires a task's hooks
// exactly when its thread gains or loses a pCPU, and KVM's vcpu_load follows from them, so
// `vcpu_loads` ("the vCPU thread (re)acquired a pCPU") counts KVM_RUN entries and real sched-ins
// only: never a sched_yield() that kept the pCPU because nobody else wanted it.

const TARGET = actorBundle(new URL('./fixtures/yield-target.ts', import.meta.url));

function recorder() {
  const calls: string[] = [];
  return { calls, hooks: { in: (cpu: number) => calls.push(`in ${cpu}`), out: (preempted: boolean) => calls.push(preempted ? 'out preempted' : 'out blocked') } };
}

/** Wait until another thread's task waits in a runqueue (it woke, and the pCPU is taken). */
async function queued(sched: Scheduler, task: number): Promise<void> {
  while (!sched.isQueued(task)) await new Promise((r) => setTimeout(r, 5));
}

describe('scheduler hooks (preempt notifiers)', () => {
  it('fire on acquire and release, and not on a yield that keeps the pCPU', () => {
    const mem = allocateVm({ vcpus: 1, pcpus: 1, actors: 2 });
    const sched = new Scheduler(mem);
    const { calls, hooks } = recorder();
    sched.setSchedHooks(0, hooks);
    expect(sched.acquire(0)).toBe(0);
    expect(sched.yield(0)).toBe(0); // nobody waits: the task keeps its pCPU, no sched_out, no sched_in
    sched.release(0);
    sched.acquire(0);
    sched.setSchedHooks(0, undefined);
    sched.release(0);
    expect(calls).toEqual(['in 0', 'out blocked', 'in 0']);
  });

  it('fire out (preempted) then in when a yield really hands the pCPU to a waiting task', async () => {
    const mem = allocateVm({ vcpus: 2, pcpus: 1, actors: 3 });
    const sched = new Scheduler(mem);
    sched.acquire(0);
    const { calls, hooks } = recorder();
    sched.setSchedHooks(0, hooks);
    const w = new Worker(TARGET, { workerData: { sab: mem.sab, layout: mem.layout, task: 1 } });
    const exited = new Promise((resolve, reject) => w.once('exit', resolve).once('error', reject));
    await queued(sched, 1);
    expect(sched.yield(0)).toBe(0); // the target runs, blocks, and hands the pCPU back
    await exited;
    expect(calls).toEqual(['out preempted', 'in 0']);
  });
});

describe('vcpu_loads counts only real sched-ins', () => {
  /** One vCPU (of two) on one pCPU; its guest runs a few instructions and ends. need_resched is set before KVM_RUN. */
  function vcpuOnOnePcpu(arch: 'x86' | 'arm64') {
    const mem = allocateVm({ vcpus: 2, pcpus: 1, actors: 3 });
    const kvm = mem.record(KVM, 0);
    writeKvmParams(kvm, kvmParamDefaults('6.11', arch));
    if (arch === 'arm64') writeArch(kvm, 'arm64', { wfi_trap_policy: 'default', wfe_trap_policy: 'default', direct_injection: false, wfx_rq_threshold: null });
    const sched = new Scheduler(mem);
    const a = new Assembler();
    a.label('entry').movi(1, 3);
    a.label('loop').addi(1, 1, -1).jnz(1, 'loop');
    const vcpu = new KvmVcpu({ mem, id: 0, sched, guest: new GuestCpu(a.assemble('short')) });
    sched.acquire(0);
    // The tick found the timeslice used up: KVM_RUN's cond_resched() calls schedule() (a yield).
    const needResched = () => Atomics.store(mem.record(TASK, 0).i32, mem.record(TASK, 0).I.need_resched, 1);
    return { mem, sched, vcpu, needResched, stats: () => readVcpuStats(vcpu.stats) };
  }

  for (const arch of ['x86', 'arm64'] as const) {
    it(`${arch}: a cond_resched() yield that keeps the pCPU is no vcpu_load (nor a new WFx trap decision)`, () => {
      const { vcpu, sched, needResched, stats } = vcpuOnOnePcpu(arch);
      needResched();
      expect(kvmVcpuRun(vcpu)).toBe(KVM_EXIT.SHUTDOWN);
      expect(sched.schedIns(0)).toBe(1); // the thread never lost its pCPU
      expect(stats().model.vcpu_loads).toBe(1); // KVM_RUN's own vcpu_load, and nothing else
      if (arch === 'arm64') expect(stats().model.vcpu_loads_twi).toBe(1);
      sched.release(0);
    });
  }

  it('a yield that hands the pCPU to a waiting task and gets it back is one more vcpu_load', async () => {
    const { mem, vcpu, sched, needResched, stats } = vcpuOnOnePcpu('x86');
    const w = new Worker(TARGET, { workerData: { sab: mem.sab, layout: mem.layout, task: 1 } });
    const exited = new Promise((resolve, reject) => w.once('exit', resolve).once('error', reject));
    await queued(sched, 1);
    needResched();
    expect(kvmVcpuRun(vcpu)).toBe(KVM_EXIT.SHUTDOWN);
    await exited;
    expect(sched.schedIns(0)).toBe(2);
    expect(stats().model.vcpu_loads).toBe(2); // the entry, and the sched-in after the yield
    sched.release(0);
  });

  it('a sched-in outside KVM_RUN (the VMM holds the thread) loads nothing; the next KVM_RUN loads once', () => {
    const { vcpu, sched, stats } = vcpuOnOnePcpu('x86');
    sched.release(0);
    sched.acquire(0);
    expect(stats().model.vcpu_loads).toBe(0);
    expect(kvmVcpuRun(vcpu)).toBe(KVM_EXIT.SHUTDOWN);
    expect(stats().model.vcpu_loads).toBe(1);
    sched.release(0);
  });
});
