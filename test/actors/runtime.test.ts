import { describe, expect, it } from 'vitest';
import { spawnActor, type Actor, type Runnable } from '../../src/actors/actor.ts';
import { SharedMemory } from '../../src/actors/shared-memory.ts';
import { supervise } from '../../src/actors/supervisor.ts';
import { futexBumpAndWake } from '../../src/actors/futex.ts';
import { now } from '../../src/actors/clock.ts';
import { COUNTER, COUNTER_REGION, counterLayout, type CounterConfig } from './fixtures/counter-layout.ts';
import { pingpongLayout, PINGPONG, PINGPONG_REGION, type PingPongConfig } from './fixtures/pingpong-layout.ts';

// The actor runtime on real worker threads, with no KVM in sight.

const PINGPONG_ACTOR = new URL('./fixtures/pingpong-actor.ts', import.meta.url);
const COUNTER_ACTOR = new URL('./fixtures/counter-actor.ts', import.meta.url);

type Snap = { received: number; blocked: number };

async function runAll<S>(actors: Actor<Runnable<S>>[], requestStop = () => {}, durationMs = 60_000) {
  try {
    const outcome = await supervise(actors, { durationMs, requestStop, graceMs: 3000 });
    const snaps = outcome.status === 'completed' ? await Promise.all(actors.map((a) => a.call(Promise.resolve(a.api.snapshot() as Promise<S>)))) : [];
    return { outcome, snaps };
  } finally {
    await Promise.all(actors.map((a) => a.terminate()));
  }
}

describe('futex wait/wake between workers', () => {
  it('hands a token back and forth 20000 times with spin-then-block waits, never losing a wake', async () => {
    const mem = SharedMemory.allocate(pingpongLayout());
    const rounds = 20_000;
    const actors = (['ping', 'pong'] as const).map((role) =>
      spawnActor<Runnable<Snap>>(PINGPONG_ACTOR, { name: role, sab: mem.sab, layout: mem.layout, config: { role, rounds } satisfies PingPongConfig }),
    );
    const { outcome, snaps } = await runAll(actors);
    expect(outcome).toEqual({ status: 'completed' });
    expect(snaps.map((s) => s.received)).toEqual([rounds, rounds]);
    // Both paths ran: some waits were satisfied while spinning, some slept in Atomics.wait.
    expect(snaps[0].blocked + snaps[1].blocked).toBeGreaterThan(0);
    const rec = mem.record(PINGPONG_REGION, 0);
    expect([rec.i32[PINGPONG.i32.index.ping], rec.i32[PINGPONG.i32.index.pong]]).toEqual([rounds, rounds]);
  });

  it('keeps a FutexMutex mutually exclusive under contention from two workers', async () => {
    const mem = SharedMemory.allocate(pingpongLayout());
    const rounds = 50_000;
    const actors = (['mutex-a', 'mutex-b'] as const).map((role) =>
      spawnActor<Runnable<Snap>>(PINGPONG_ACTOR, { name: role, sab: mem.sab, layout: mem.layout, config: { role, rounds } satisfies PingPongConfig }),
    );
    const { outcome } = await runAll(actors);
    expect(outcome.status).toBe('completed');
    const rec = mem.record(PINGPONG_REGION, 0);
    expect(rec.i32[PINGPONG.i32.index.counter]).toBe(2 * rounds);
    expect(rec.i32[PINGPONG.i32.index.lock]).toBe(0);
  });
});

describe('supervising actors', () => {
  it('stops every actor through shared memory when the time is up, and counts each wake once', async () => {
    const mem = SharedMemory.allocate(counterLayout());
    const rec = mem.record(COUNTER_REGION, 0);
    const I = COUNTER.i32.index;
    const actor = spawnActor<Runnable<{ wakes: number; clock: number }>>(COUNTER_ACTOR, {
      name: 'counter',
      sab: mem.sab,
      layout: mem.layout,
      config: {} satisfies CounterConfig,
    });
    let bumps = 0;
    const kicker = setInterval(() => {
      futexBumpAndWake(rec.i32, I.word);
      bumps++;
    }, 5);
    const before = now();
    const { outcome, snaps } = await runAll([actor], () => {
      clearInterval(kicker);
      Atomics.store(rec.i32, I.stop, 1);
      futexBumpAndWake(rec.i32, I.word);
    }, 500);
    expect(outcome).toEqual({ status: 'completed' });
    // Every bump is one wake at most (a wake can cover two bumps that landed together), plus the stop.
    expect(snaps[0].wakes).toBeGreaterThan(2); // a loaded 2-core machine may run the 5 ms kicker rarely
    expect(snaps[0].wakes).toBeLessThanOrEqual(bumps + 1);
    // One clock for all threads: the worker's reading falls between the main thread's.
    expect(snaps[0].clock).toBeGreaterThan(before);
    expect(snaps[0].clock).toBeLessThan(now());
  });

  it('fails the run with the worker’s message and stack when an actor throws, and stops the others', async () => {
    const mem = SharedMemory.allocate(counterLayout());
    const rec = mem.record(COUNTER_REGION, 0);
    const I = COUNTER.i32.index;
    const spawn = (name: string, config: CounterConfig) =>
      spawnActor<Runnable<unknown>>(COUNTER_ACTOR, { name, sab: mem.sab, layout: mem.layout, config });
    const actors = [spawn('healthy', {}), spawn('faulty', { throwAfterMs: 100 })];
    const t0 = Date.now();
    const { outcome } = await runAll(actors, () => {
      Atomics.store(rec.i32, I.stop, 1);
      futexBumpAndWake(rec.i32, I.word);
    }, 30_000);
    expect(outcome.status).toBe('failed');
    expect(outcome.failure?.actor).toBe('faulty');
    expect(outcome.failure?.message).toContain('injected failure in counter actor');
    // Named by the TypeScript source and its line, not by the bundle the worker ran (mapped on this thread).
    expect(outcome.failure?.stack).toMatch(/counter-actor\.ts:\d+:\d+/);
    expect(outcome.failure?.stack).not.toMatch(/haltlab-actors-[^/]+\/[0-9a-f]{16}\.mjs/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});
