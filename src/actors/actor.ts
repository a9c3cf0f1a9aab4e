import { Worker, parentPort, workerData, isMainThread } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { Layout } from './shared-memory.ts';
import { actorBundle, mapBundledStack } from './bundle.ts';

/**
 * An actor is a worker thread running a TypeScript module (bundled once into
 * plain JavaScript, bundle.ts), started with a typed contract and controlled
 * through comlink.
 * The control plane never sits on the hot path: an actor's run() blocks its
 * own event loop, so "stop" reaches it through shared memory (a word and a
 * wake), and comlink carries only configure/run/snapshot.
 */

/** The start-up contract every actor receives in workerData. */
export interface ActorStart<C> {
  readonly name: string;
  readonly sab: SharedArrayBuffer;
  readonly layout: Layout;
  readonly config: C;
}

/** What every actor exposes on the control plane. */
export interface Runnable<S> {
  /** Runs until the actor's stop word says stop; resolves when its loop has ended. */
  run(): void | Promise<void>;
  /** The actor's own results (histograms, local counters); valid after run() ended. */
  snapshot(): S | Promise<S>;
}

export class ActorError extends Error {
  constructor(
    readonly actor: string,
    message: string,
    actorStack?: string,
  ) {
    super(`${actor}: ${message}`);
    this.name = 'ActorError';
    this.actorStack = mapBundledStack(actorStack);
  }

  /** The worker's stack, its frames named by their TypeScript sources. */
  readonly actorStack?: string;
}

export interface Actor<A> {
  readonly name: string;
  readonly worker: Worker;
  readonly api: Comlink.Remote<A>;
  /** Rejects with an ActorError when the worker throws or exits on its own. */
  readonly failure: Promise<never>;
  /** Race a control-plane call against the worker's death, so a dead actor cannot hang the caller. */
  call<T>(p: Promise<T>): Promise<T>;
  terminate(): Promise<void>;
}

export function spawnActor<A>(module: URL, start: ActorStart<unknown>): Actor<A> {
  const worker = new Worker(module.pathname.endsWith('.ts') ? actorBundle(module) : module, {
    workerData: start,
    // No --enable-source-maps: a stack that leaves the worker is mapped by the main thread (bundle.ts).
    execArgv: [],
    name: start.name,
    stdout: false,
    stderr: false,
  });
  let terminating = false;
  let fail!: (e: ActorError) => void;
  const failure = new Promise<never>((_, reject) => (fail = reject));
  failure.catch(() => {}); // observed through call() and by the supervisor
  worker.on('error', (e: Error) => fail(new ActorError(start.name, e.message, e.stack)));
  worker.on('exit', (code) => {
    if (!terminating) fail(new ActorError(start.name, `worker exited unexpectedly (code ${code})`));
  });
  const api = Comlink.wrap<A>(nodeEndpoint(worker));
  return {
    name: start.name,
    worker,
    api,
    failure,
    call: <T>(p: Promise<T>) => Promise.race([p, failure]),
    async terminate() {
      terminating = true;
      api[Comlink.releaseProxy]();
      await worker.terminate();
    },
  };
}

/** Worker side: build the actor from its start contract and serve it on the control plane. */
export function serveActor<C, A extends object>(make: (start: ActorStart<C>) => A): void {
  if (isMainThread || !parentPort) throw new Error('serveActor() must run inside a worker thread');
  Comlink.expose(make(workerData as ActorStart<C>), nodeEndpoint(parentPort));
}
