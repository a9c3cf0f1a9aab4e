import { kvmParamDefaults } from '../host/kvm/params.ts';
import type { AnyRunResult } from '../host/results.ts';
import type { Scenario } from '../scenarios/schema.ts';
import type { Config, Measured } from './run.ts';

/**
 * What a finding is: a seed's claim, the configurations that measure it, and
 * how the report reads the measurements. A finding reads its runs into figures (`figures`),
 * and its verdict is a pure function of those figures (`verdict`): every
 * number, direction ("cut", "below") and agreement in it is chosen by them,
 * every scenario parameter it names comes from the scenario as run, and each
 * agreement states the band it was judged by. test/findings/verdicts.test.ts
 * feeds each verdict figures that flip it.
 */

export interface Chart {
  file: string;
  svg: string;
  alt: string;
}

export interface Finding<F = unknown> {
  id: string;
  title: string;
  seed: string;
  claim: string;
  /** Groups of configurations; each group is one `haltlab compare` command. */
  groups: Config[][];
  duration_s: number;
  /**
   * For figures that vary from run to run on this machine: each configuration
   * runs this many times and the run in the middle by `by` is reported whole.
   */
  repeat?: { runs: number; by: (r: AnyRunResult) => number; what: string };
  /** The figures the text is made of, read from the runs. */
  figures(m: Measured[]): F;
  /** The table of what was measured, and the charts. */
  table(m: Measured[], f: F): { measured: string; charts: Chart[] };
  /** The verdict, from the figures alone. */
  verdict(f: F): string;
  /**
   * What the machine must have for the finding to be measured at all (`kvm`: a usable /dev/kvm).
   * Without it the report says why in the finding's place and goes on.
   */
  needs?: 'kvm';
}

/** A finding's figure type is its own; the list holds them all. */
export type AnyFinding = Finding<any>;

export const us = (ns: number) => (ns >= 1e5 ? `${(ns / 1e3).toFixed(0)} µs` : ns >= 1e4 ? `${(ns / 1e3).toFixed(1)} µs` : `${(ns / 1e3).toFixed(2)} µs`);
/** A duration set in a scenario (a tick, a timeout, a ceiling), in the unit that reads best. */
export const dur = (ns: number) => (ns >= 1e9 && ns % 1e8 === 0 ? `${ns / 1e9} s` : ns >= 1e6 && ns % 1e5 === 0 ? `${ns / 1e6} ms` : ns >= 1e3 && ns % 100 === 0 ? `${ns / 1e3} µs` : `${ns} ns`);
export const pct = (x: number) => `${x.toFixed(x < 10 ? 1 : 0)}%`;
export const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
export const times = (x: number) => `${x.toFixed(2)}×`;
export const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

export function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A finding, with its figure type checked against its own verdict. */
export const finding = <F>(f: Finding<F>): Finding<F> => f;

/** The halt-polling ceiling the run's vCPUs had: KVM_CAP_HALT_POLL if set, else the module parameter (defaults by kernel and arch). */
export const haltPollCeilingNs = (s: Scenario) => s.host.kvm_cap_halt_poll ?? s.host.kvm.halt_poll_ns ?? kvmParamDefaults(s.host.kernel, s.host.arch).halt_poll_ns;
