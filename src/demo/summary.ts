import { haltlabVersion, machineFacts, type AnyRunResult as RunResult } from '../host/results.ts';
import type { SessionSummary } from './session.ts';

/**
 * The demo session as one JSON document: what `haltlab demo --json` prints or
 * saves when the demo stops, and what the page's download button fetches
 * while it runs. Documented in docs/results.md.
 */

export interface SessionEnd {
  /** What stopped the demo: a signal, its --duration, or the VM failing on its own. */
  stopped_by: 'SIGINT' | 'SIGTERM' | 'duration' | 'failure';
  /** The last boot's run, when it failed: which actor, and why. */
  failure: RunResult['failure'];
}

export interface SessionDocument extends SessionSummary {
  haltlab: { version: string };
  machine: RunResult['machine'];
  /** null while the demo still runs (a download from the page). */
  stopped_by: SessionEnd['stopped_by'] | null;
  failure: RunResult['failure'];
}

export function sessionDocument(s: SessionSummary, end: SessionEnd | null): SessionDocument {
  return { haltlab: { version: haltlabVersion() }, machine: machineFacts(null), stopped_by: end?.stopped_by ?? null, failure: end?.failure ?? null, ...s };
}
