import { createVm, type Vm } from '../host/vm.ts';
import type { FaultSpec } from '../host/faults.ts';
import type { RunResult } from '../host/results.ts';
import { applyOverrides } from '../scenarios/overrides.ts';
import { parseScenario, ScenarioError, type Scenario, type ScenarioInput } from '../scenarios/schema.ts';
import { ControlError, ControlSchema, controlOverrides, describeControlError, effectOf, type Effect } from './controls.ts';

/**
 * One demo VM at a time, running until stopped. Controls change it in place
 * (host knobs, pause) or reboot it with the changed scenario (guest knobs);
 * a run that ends on its own (a crashed actor) is reported through `ended`.
 */

export type ControlAnswer = { ok: true; effect: Effect; scenario: Scenario } | { ok: false; error: string };

/** Long enough never to end on its own while someone watches (setTimeout's limit is ~24.8 days). */
const FOREVER_MS = 7 * 24 * 3600 * 1000;

export class DemoSession {
  private current: { vm: Vm; stop: AbortController; done: Promise<RunResult> } | null = null;
  private input: ScenarioInput;
  private scenario: Scenario;
  /** Incremented by each (re)boot, so the page can mark it. */
  boots = 0;
  private rebooting: Promise<void> = Promise.resolve();
  /** Knobs changed in place during the current boot, for its results. */
  private changes: string[] = [];

  constructor(
    input: ScenarioInput,
    /** Called when a run ends without being asked to (a failure), with its results. */
    private readonly ended: (r: RunResult) => void,
    /** Faults to inject into the first boot (testing that a failure stops the demo cleanly). */
    private faults: FaultSpec[] = [],
  ) {
    this.input = input;
    this.scenario = parseScenario(input, 'demo scenario');
  }

  get vm(): Vm | null {
    return this.current?.vm ?? null;
  }

  get config(): Scenario {
    return this.scenario;
  }

  start(): void {
    const vm = createVm(this.scenario);
    const stop = new AbortController();
    const changes: string[] = (this.changes = []);
    // The results say what the VM ran with at the end, and what was changed on the way.
    const done = vm.run({ signal: stop.signal, durationMs: FOREVER_MS, faults: this.faults }).then((r) => {
      if (changes.length) r.warnings.push(`changed while running (the scenario shows the values at the end): ${changes.join(', ')}`);
      r.scenario = this.scenario;
      return r;
    });
    this.faults = [];
    this.current = { vm, stop, done };
    this.boots++;
    void done.then((r) => {
      if (this.current?.done === done && !stop.signal.aborted) this.ended(r);
    });
  }

  /** Stop the VM and its threads; the results of its run so far. */
  async stop(): Promise<RunResult | null> {
    await this.rebooting;
    const cur = this.current;
    this.current = null;
    if (!cur) return null;
    cur.stop.abort();
    return cur.done;
  }

  /** Validate and apply one control message; a bad one changes nothing. */
  async control(message: unknown): Promise<ControlAnswer> {
    const parsed = ControlSchema.safeParse(message);
    if (!parsed.success) return { ok: false, error: describeControlError(parsed.error) };
    const c = parsed.data;
    const effect = effectOf(c);
    const vm = this.current?.vm;
    if (effect === 'pause' || effect === 'resume') {
      if (!vm) return { ok: false, error: 'the VM is not running' };
      if (effect === 'pause') vm.pause();
      else vm.resume();
      return { ok: true, effect, scenario: this.scenario };
    }
    let input: ScenarioInput;
    let next: Scenario;
    try {
      input = applyOverrides(this.input, controlOverrides(c, this.input));
      next = parseScenario(input, 'control');
    } catch (e) {
      if (e instanceof ScenarioError) return { ok: false, error: e.issues.join('; ') };
      if (e instanceof ControlError) return { ok: false, error: e.message };
      throw e;
    }
    this.input = input;
    this.scenario = next;
    if (effect === 'live' && vm) {
      this.changes.push(`${c.kind === 'kvm_param' ? c.name : 'KVM_CAP_HALT_POLL'}=${String((c as { value?: unknown }).value)} at ${vm.elapsedS().toFixed(1)} s`);
      if (c.kind === 'kvm_param') vm.setKvmParams({ [c.name]: next.host.kvm[c.name] });
      if (c.kind === 'cap_halt_poll' && next.host.kvm_cap_halt_poll !== null) vm.enableCapHaltPoll(next.host.kvm_cap_halt_poll);
    } else {
      this.rebooting = this.rebooting.then(async () => {
        const cur = this.current;
        if (!cur) return;
        this.current = null;
        cur.stop.abort();
        await cur.done;
        this.start();
      });
      await this.rebooting;
    }
    return { ok: true, effect, scenario: this.scenario };
  }
}
