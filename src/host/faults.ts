import { region, struct, type RecordOf } from '../actors/shared-memory.ts';
import { ScenarioError } from '../scenarios/error.ts';

/**
 * Injected faults, for testing that haltlab stops cleanly and keeps what it
 * measured: an actor that throws, one that hangs (stops answering and never
 * leaves its loop), one whose thread is terminated. `throw` and `hang` are
 * requested through the actor's fault word and carried out by the actor at
 * its next loop point (the injector wakes it); `terminate` is done to the
 * worker from outside.
 */

export const FAULT_KINDS = ['throw', 'hang', 'terminate'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export const FAULT_WORD = { NONE: 0, THROW: 1, HANG: 2 } as const;

export interface FaultSpec {
  kind: FaultKind;
  /** The actor's thread name: host, vcpuN, iothreadN. */
  actor: string;
  /** Seconds after the run starts. */
  at_s: number;
}

/** One record per actor of the VM, by its slot: the fault requested of it (FAULT_WORD). */
export const FAULTS = region('faults', struct(['kind'], []));
export type FaultRecord = RecordOf<typeof FAULTS>;

/** KIND:ACTOR[@SECONDS], e.g. throw:vcpu1@0.5, hang:host, terminate:iothread0@2. */
export function parseFault(text: string): FaultSpec {
  const m = /^(\w+):([a-z]+\d*)(?:@(\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (!m || !(FAULT_KINDS as readonly string[]).includes(m[1])) {
    throw new ScenarioError([`"${text}" is not KIND:ACTOR[@SECONDS] with KIND one of ${FAULT_KINDS.join(', ')} (e.g. throw:vcpu1@0.5)`], '--fault', 'invalid fault');
  }
  return { kind: m[1] as FaultKind, actor: m[2], at_s: m[3] === undefined ? 1 : Number(m[3]) };
}

/** Actor side, at a loop point: carry out a requested fault. `doing` says where the actor was. */
export function checkFault(rec: FaultRecord, actor: string, doing: string): void {
  const kind = rec.load('kind');
  if (kind === FAULT_WORD.NONE) return;
  if (kind === FAULT_WORD.THROW) throw new Error(`injected fault: ${actor} threw while ${doing}`);
  // HANG: spin forever without looking at any stop word; only terminating the worker ends it.
  for (;;) {
    // hung
  }
}
