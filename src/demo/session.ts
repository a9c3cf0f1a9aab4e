import { now } from '../actors/clock.ts';
import { createDemoVm, type DemoVm as Vm } from './demo-vm.ts';
import type { FaultSpec } from '../host/faults.ts';
import type { AnyRunResult as RunResult, Backend } from '../host/results.ts';
import { applyOverrides } from '../scenarios/overrides.ts';
import { parseScenario, ScenarioError, type Scenario, type ScenarioInput } from '../scenarios/schema.ts';
import { checkKvmScenario } from '../real-kvm/run.ts';
import { demoConfig } from './config.ts';
import { ControlError, ControlSchema, controlOverrides, describeControlError, effectOf, type Effect } from './controls.ts';
import { SegmentRecorder, type SegmentSummary } from './segments.ts';

/**
 * One demo VM at a time, running until stopped. Controls change it in place
 * (host knobs, pause) or reboot it with the changed scenario (guest knobs);
 * a run that ends on its own (a crashed actor) is reported through `ended`.
 * Every change is a mark on the session's timeline and starts a new segment
 * of its summary.
 */

export type ControlAnswer = { ok: true; effect: Effect; scenario: Scenario } | { ok: false; error: string };

/** A moment the page marks on its strips and charts. */
export interface Mark {
  id: number;
  /** Seconds since the demo started. */
  t_s: number;
  kind: 'knob' | 'reboot' | 'pause' | 'resume';
  label: string;
}

export interface SessionSummary {
  /** The scenario the demo started with; each segment names what it ran with. */
  scenario: Scenario;
  /** Seconds since the demo started. */
  elapsed_s: number;
  segments: SegmentSummary[];
  marks: Mark[];
}

/** Long enough never to end on its own while someone watches (setTimeout's limit is ~24.8 days). */
const FOREVER_MS = 7 * 24 * 3600 * 1000;

export class DemoSession {
  private current: { vm: Vm; stop: AbortController; done: Promise<RunResult> } | null = null;
  private input: ScenarioInput;
  private scenario: Scenario;
  private readonly first: Scenario;
  /** Incremented by each (re)boot, so the page can mark it. */
  boots = 0;
  private rebooting: Promise<void> = Promise.resolve();
  /** Knobs changed in place during the current boot, for its results. */
  private changes: string[] = [];
  private readonly t0 = now();
  private readonly recorder = new SegmentRecorder(this.t0);
  readonly marks: Mark[] = [];
  private booted: Promise<void> = Promise.resolve();

  /** Resolves once the current boot's guest runs (its thread start-up done). */
  get running(): Promise<void> {
    return this.booted;
  }

  constructor(
    input: ScenarioInput,
    /** Called when a run ends without being asked to (a failure), with its results. */
    private readonly ended: (r: RunResult) => void,
    /** Faults to inject into the first boot (testing that a failure stops the demo cleanly). */
    private faults: FaultSpec[] = [],
    /** Where the VM runs: the model, or this machine's /dev/kvm. */
    readonly backend: Backend = 'model',
  ) {
    this.input = input;
    this.scenario = parseScenario(input, 'demo scenario');
    this.first = this.scenario;
  }

  get vm(): Vm | null {
    return this.current?.vm ?? null;
  }

  get config(): Scenario {
    return this.scenario;
  }

  /** Seconds since the demo started. */
  elapsedS(): number {
    return (now() - this.t0) / 1e9;
  }

  private mark(kind: Mark['kind'], label: string): void {
    this.marks.push({ id: this.marks.length + 1, t_s: this.elapsedS(), kind, label });
  }

  start(startedBy = 'boot'): void {
    const vm = createDemoVm(this.scenario, this.backend);
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
    const boot = this.boots;
    let onRunning!: () => void;
    this.booted = new Promise<void>((r) => (onRunning = r));
    // The segment starts when the guest does: thread start-up is neither its time nor its CPU.
    const started = setInterval(() => {
      if (this.current?.vm !== vm) clearInterval(started);
      else if (vm.elapsedS() > 0) {
        clearInterval(started);
        this.recorder.begin(vm, demoConfig(this.scenario), boot, startedBy);
        onRunning();
      }
    }, 5);
    void done.then((r) => {
      clearInterval(started);
      if (this.current?.done === done && !stop.signal.aborted) {
        this.recorder.close(vm);
        this.ended(r);
      }
    });
  }

  /** Stop the VM and its threads; the results of its run so far. */
  async stop(): Promise<RunResult | null> {
    await this.rebooting;
    const cur = this.current;
    this.current = null;
    if (!cur) return null;
    this.recorder.close(cur.vm);
    cur.stop.abort();
    return cur.done;
  }

  /** The session so far, one segment per configuration (the open one up to now). */
  summary(): SessionSummary {
    return { scenario: this.first, elapsed_s: this.elapsedS(), segments: this.recorder.summaries(this.vm), marks: [...this.marks] };
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
      if (effect === 'pause' && !vm.paused) {
        this.recorder.pause(vm);
        vm.pause();
        this.mark('pause', 'pause');
      } else if (effect === 'resume' && vm.paused) {
        vm.resume();
        this.recorder.resume(vm);
        this.mark('resume', 'resume');
      }
      return { ok: true, effect, scenario: this.scenario };
    }
    let input: ScenarioInput;
    let next: Scenario;
    try {
      input = applyOverrides(this.input, controlOverrides(c, this.input));
      next = parseScenario(input, 'control');
      if (this.backend === 'kvm') checkKvmScenario(next);
    } catch (e) {
      if (e instanceof ScenarioError) return { ok: false, error: e.issues.join('; ') };
      if (e instanceof ControlError) return { ok: false, error: e.message };
      throw e;
    }
    const before = this.scenario;
    this.input = input;
    this.scenario = next;
    const label = `${c.kind === 'kvm_param' ? c.name : c.kind === 'cap_halt_poll' ? 'KVM_CAP_HALT_POLL' : c.kind === 'guest_idle' ? 'guest idle' : 'interval µs'}=${String((c as { value?: unknown }).value)}`;
    if (effect === 'live' && vm) {
      // A value set again changes nothing: no new segment, no mark.
      if (JSON.stringify(demoConfig(before)) === JSON.stringify(demoConfig(next))) return { ok: true, effect, scenario: this.scenario };
      this.changes.push(`${label} at ${vm.elapsedS().toFixed(1)} s`);
      // The old configuration's segment ends before the VM sees the new value.
      this.recorder.close(vm);
      if (c.kind === 'kvm_param') vm.setKvmParam(c.name, next.host.kvm[c.name]!);
      if (c.kind === 'cap_halt_poll' && next.host.kvm_cap_halt_poll !== null) vm.enableCapHaltPoll(next.host.kvm_cap_halt_poll);
      if (vm.elapsedS() > 0) this.recorder.begin(vm, demoConfig(next), this.boots, label);
      this.mark('knob', label);
    } else {
      this.rebooting = this.rebooting.then(async () => {
        const cur = this.current;
        if (!cur) return;
        this.current = null;
        this.recorder.close(cur.vm);
        cur.stop.abort();
        await cur.done;
        this.mark('reboot', `reboot: ${label}`);
        this.start(`reboot: ${label}`);
      });
      await this.rebooting;
    }
    return { ok: true, effect, scenario: this.scenario };
  }
}
