import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createVm } from '../../src/host/vm.ts';
import { parseScenario } from '../../src/scenarios/schema.ts';

// Every key of a run result is documented in docs/results.md: a new key without a line there fails.

const doc = readFileSync(new URL('../../docs/results.md', import.meta.url), 'utf8');

function keys(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) v.forEach((x) => keys(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.add(k);
      keys(x, out);
    }
  }
  return out;
}

describe('docs/results.md', () => {
  it('documents every key a run result has', async () => {
    const seen = new Set<string>();
    for (const [workload, lazy] of [
      [{ kind: 'timer-latency' }, false],
      [{ kind: 'irq-wake' }, false],
      [{ kind: 'hrtimer-rearm' }, true],
      [{ kind: 'dsync-io', backend: 'synthetic' }, false],
      [{ kind: 'deferred-work' }, false],
      [{ kind: 'sim-loop' }, false],
      [{ kind: 'dsync-io', backend: 'synthetic', bare_metal: true }, false],
      [{ kind: 'overcommit' }, false],
      [{ kind: 'spinlock' }, false],
    ] as const) {
      const host = workload.kind === 'overcommit' ? { arch: 'arm64' as const } : { proposals: { lazy_tscdeadline: lazy } };
      const r = await createVm(parseScenario({ duration_s: 0.4, host, vm: { vcpus: 1 }, workload })).run();
      expect(r.status).toBe('completed');
      keys(r, seen);
    }
    const missing = [...seen].filter((k) => !doc.includes(`\`${k}\``) && !doc.includes(`.${k}\``) && !doc.includes(`\`${k}.`));
    expect(missing).toEqual([]);
  });
});
