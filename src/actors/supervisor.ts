import { ActorError, type Actor, type Runnable } from './actor.ts';
import { mapBundledStack } from './bundle.ts';

/**
 * Runs a group of actors for a duration and stops them all cleanly, whatever
 * happens: the time is up, the user pressed Ctrl-C, or one actor failed. The
 * results gathered so far are always returned; threads are never left behind.
 */

export type RunStatus = 'completed' | 'interrupted' | 'failed';

export interface RunOutcome {
  status: RunStatus;
  /** Actors whose run() had not ended when the grace period was over (hung). */
  stuck?: string[];
  /** Wall time from start to the stop request, ns. */
  failure?: { actor: string; message: string; stack?: string };
}

export interface SuperviseOptions {
  durationMs: number;
  /** Ask every actor to stop (shared-memory stop words and wakes). Must be idempotent. */
  requestStop(): void;
  /** How long actors get to leave their loops once asked. */
  graceMs?: number;
  /** Aborting it stops the run early as "interrupted" (wired to SIGINT by callers). */
  signal?: AbortSignal;
  /** What an actor is doing, in a few words, for the message when it does not stop. */
  doing?: (actor: string) => string;
}

function describe(e: unknown, fallbackActor: string): { actor: string; message: string; stack?: string } {
  if (e instanceof ActorError) return { actor: e.actor, message: e.message, stack: e.actorStack };
  // An error thrown in an actor's run() comes back through comlink with the worker's (bundled) stack.
  if (e instanceof Error) return { actor: fallbackActor, message: `${fallbackActor}: ${e.message}`, stack: mapBundledStack(e.stack) };
  return { actor: fallbackActor, message: `${fallbackActor}: ${String(e)}` };
}

export async function supervise(
  actors: readonly Actor<Runnable<unknown>>[],
  opts: SuperviseOptions,
): Promise<RunOutcome> {
  let outcome: RunOutcome = { status: 'completed' };
  let stopped = false;
  const stop = (o: RunOutcome) => {
    if (stopped) return;
    stopped = true;
    outcome = o;
    opts.requestStop();
  };

  const ended = new Set<string>();
  const runs = actors.map((a) =>
    a
      .call(Promise.resolve(a.api.run() as Promise<void>))
      .catch((e: unknown) => {
        stop({ status: 'failed', failure: describe(e, a.name) });
      })
      .finally(() => ended.add(a.name)),
  );

  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, opts.durationMs);
  });
  const aborted = new Promise<void>((resolve) => {
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  const allEnded = Promise.all(runs);

  await Promise.race([
    timeUp.then(() => stop({ status: 'completed' })),
    aborted.then(() => stop({ status: 'interrupted' })),
    allEnded.then(() => stop(outcome)),
  ]);
  clearTimeout(timer);

  const grace = opts.graceMs ?? 5000;
  let graceTimer: NodeJS.Timeout | undefined;
  const hung = await Promise.race([
    allEnded.then(() => false),
    new Promise<boolean>((resolve) => {
      graceTimer = setTimeout(() => resolve(true), grace);
    }),
  ]);
  clearTimeout(graceTimer);
  if (hung && outcome.status !== 'failed') {
    const stuck = actors.filter((a) => !ended.has(a.name)).map((a) => a.name);
    const what = stuck.map((n) => `${n}${opts.doing ? ` (${opts.doing(n)})` : ''}`).join(', ');
    outcome = {
      status: 'failed',
      stuck,
      failure: {
        actor: stuck[0] ?? 'supervisor',
        message: `${stuck.join(', ')} did not stop within ${grace} ms of the stop request: hung? It was: ${what}`,
      },
    };
  }
  return outcome;
}
