import { futexBumpAndWake } from './futex.ts';

/**
 * One SharedArrayBuffer per system, carved into named regions declared once.
 * A struct region is `count` records of named Int32 words (for Atomics: flags,
 * counters, futex words) and named Float64 words (timestamps, sums in ns).
 * Every record is padded to whole cache lines so that one thread spinning on
 * its own record is not disturbed by writes to a neighbour's.
 */

export type FieldSpec = string | readonly [name: string, count: number];
type FieldName<S> = S extends readonly [infer N extends string, number] ? N : S extends string ? S : never;
export type FieldIndex<S extends readonly FieldSpec[]> = { readonly [K in FieldName<S[number]>]: number };

export interface Fields<S extends readonly FieldSpec[]> {
  readonly index: FieldIndex<S>;
  /** Words per record, padded to a cache line. */
  readonly size: number;
}

const CACHE_LINE = 64;

/** Lay out named fields (a `[name, n]` field is an array of n words) in words of `bytesPerWord`. */
export function fields<const S extends readonly FieldSpec[]>(specs: S, bytesPerWord: 4 | 8): Fields<S> {
  const index: Record<string, number> = {};
  let next = 0;
  for (const spec of specs) {
    const [name, count] = typeof spec === 'string' ? [spec, 1] : spec;
    if (name in index) throw new Error(`field ${name} declared twice`);
    index[name] = next;
    next += count;
  }
  const perLine = CACHE_LINE / bytesPerWord;
  const size = Math.max(perLine, Math.ceil(next / perLine) * perLine);
  return { index: index as FieldIndex<S>, size };
}

export interface StructDef<I extends readonly FieldSpec[], F extends readonly FieldSpec[]> {
  readonly i32: Fields<I>;
  readonly f64: Fields<F>;
}

export function struct<const I extends readonly FieldSpec[], const F extends readonly FieldSpec[]>(
  i32: I,
  f64: F,
): StructDef<I, F> {
  return { i32: fields(i32, 4), f64: fields(f64, 8) };
}

interface StructRegion {
  kind: 'struct';
  count: number;
  i32Offset: number;
  i32Size: number;
  f64Offset: number;
  f64Size: number;
  /** The struct's field indices, so that a record view needs only the plan (sizes may depend on the VM). */
  i32Index: Readonly<Record<string, number>>;
  f64Index: Readonly<Record<string, number>>;
}
interface BytesRegion {
  kind: 'bytes';
  offset: number;
  byteLength: number;
}
type RegionPlan = StructRegion | BytesRegion;

/** The plan of a buffer: plain data, so it crosses to workers in workerData. */
export interface Layout {
  readonly byteLength: number;
  readonly regions: Readonly<Record<string, RegionPlan>>;
}

/**
 * A struct region, named once: the token every actor reaches it by. Its type
 * carries the struct's field names, so a record view taken through it accepts
 * only its own fields, Int32 and Float64 words apart. `def` is the struct when
 * its shape is fixed; a region whose array fields depend on the VM's size gets
 * its struct when the layout is built.
 */
export interface Region<I extends string, F extends string> {
  readonly name: string;
  readonly def?: StructDef<readonly FieldSpec[], readonly FieldSpec[]>;
  /** Type only: the field names. */
  readonly __fields?: { i32: I; f64: F };
}

type I32Names<D> = D extends StructDef<infer I, readonly FieldSpec[]> ? FieldName<I[number]> : never;
type F64Names<D> = D extends StructDef<readonly FieldSpec[], infer F> ? FieldName<F[number]> : never;

/** The token of a struct region shaped like `def` (the def of a size-dependent struct is a sample: its names count). */
export function region<const D extends StructDef<readonly FieldSpec[], readonly FieldSpec[]>>(name: string, def: D, fixed = true): Region<I32Names<D>, F64Names<D>> {
  return fixed ? { name, def } : { name };
}

/** A bytes region (rings, raw buffers), named once. */
export interface BytesRegionToken {
  readonly name: string;
  readonly bytes: true;
}
export const bytesRegion = (name: string): BytesRegionToken => ({ name, bytes: true });

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export class LayoutBuilder {
  private offset = 0;
  private readonly regions: Record<string, RegionPlan> = {};

  /** `count` records of the region's struct (or of `def`, for a region whose shape depends on the VM). */
  struct<I extends string, F extends string>(r: Region<I, F>, count: number, def = r.def): this {
    if (!def) throw new Error(`region ${r.name} has no fixed struct: give its def`);
    this.claim(r.name);
    const i32Offset = align(this.offset, CACHE_LINE);
    const f64Offset = align(i32Offset + count * def.i32.size * 4, CACHE_LINE);
    this.offset = f64Offset + count * def.f64.size * 8;
    this.regions[r.name] = { kind: 'struct', count, i32Offset, i32Size: def.i32.size, f64Offset, f64Size: def.f64.size, i32Index: def.i32.index, f64Index: def.f64.index };
    return this;
  }

  bytes(r: BytesRegionToken, byteLength: number): this {
    this.claim(r.name);
    const offset = align(this.offset, CACHE_LINE);
    this.offset = offset + byteLength;
    this.regions[r.name] = { kind: 'bytes', offset, byteLength };
    return this;
  }

  build(): Layout {
    return { byteLength: align(this.offset, CACHE_LINE), regions: { ...this.regions } };
  }

  private claim(name: string): void {
    if (name in this.regions) throw new Error(`region ${name} declared twice`);
  }
}

/**
 * One record of a struct region, seen through its struct: Int32 words (flags,
 * counters, futex words: `load`, `store`, `add`, `cas`, `wake`) and Float64
 * words (timestamps, sums in ns: `get`, `set`, `addf`), each by its name. `I`
 * and `F` are the word indices, for a hot loop that resolves a field once, and
 * for array fields (`rec.f64[rec.F.pending_since + line]`).
 */
export class RecordView<I extends string = string, F extends string = string> {
  constructor(
    readonly i32: Int32Array,
    readonly f64: Float64Array,
    readonly I: Readonly<Record<I, number>>,
    readonly F: Readonly<Record<F, number>>,
  ) {}

  load(f: I): number {
    return Atomics.load(this.i32, this.I[f]);
  }
  store(f: I, v: number): void {
    Atomics.store(this.i32, this.I[f], v);
  }
  /** Atomic add; returns the old value. */
  add(f: I, d: number): number {
    return Atomics.add(this.i32, this.I[f], d);
  }
  /** Atomic compare-and-swap; returns the old value (the swap happened iff it equals `expected`). */
  cas(f: I, expected: number, v: number): number {
    return Atomics.compareExchange(this.i32, this.I[f], expected, v);
  }
  exchange(f: I, v: number): number {
    return Atomics.exchange(this.i32, this.I[f], v);
  }
  or(f: I, bits: number): number {
    return Atomics.or(this.i32, this.I[f], bits);
  }
  and(f: I, bits: number): number {
    return Atomics.and(this.i32, this.I[f], bits);
  }
  /** Bump the word, so a waiter that read the old value cannot sleep, and wake its waiters (futex.ts). */
  wake(f: I, count = Infinity): number {
    return futexBumpAndWake(this.i32, this.I[f], count);
  }
  /** Wake the word's waiters without changing it (they re-check their own condition). */
  notify(f: I, count = Infinity): number {
    return Atomics.notify(this.i32, this.I[f], count);
  }
  get(f: F): number {
    return this.f64[this.F[f]];
  }
  set(f: F, v: number): void {
    this.f64[this.F[f]] = v;
  }
  addf(f: F, d: number): void {
    this.f64[this.F[f]] += d;
  }
}

/** The record view of a region's token. */
export type RecordOf<R> = R extends Region<infer I, infer F> ? RecordView<I, F> : never;

/** A buffer seen through its layout; every actor reads shared state through this, never bare offsets. */
export class SharedMemory {
  constructor(
    readonly sab: SharedArrayBuffer,
    readonly layout: Layout,
  ) {
    if (sab.byteLength < layout.byteLength) throw new Error('buffer smaller than its layout');
  }

  static allocate(layout: Layout): SharedMemory {
    return new SharedMemory(new SharedArrayBuffer(layout.byteLength), layout);
  }

  has(r: { name: string }): boolean {
    return r.name in this.layout.regions;
  }

  count(r: Region<string, string>): number {
    return this.structRegion(r.name).count;
  }

  record<I extends string, F extends string>(r: Region<I, F>, index: number): RecordView<I, F> {
    const p = this.structRegion(r.name);
    if (!Number.isInteger(index) || index < 0 || index >= p.count) {
      throw new RangeError(`${r.name}[${index}] out of range (${p.count} records)`);
    }
    return new RecordView<I, F>(
      new Int32Array(this.sab, p.i32Offset + index * p.i32Size * 4, p.i32Size),
      new Float64Array(this.sab, p.f64Offset + index * p.f64Size * 8, p.f64Size),
      p.i32Index as Record<I, number>,
      p.f64Index as Record<F, number>,
    );
  }

  records<I extends string, F extends string>(r: Region<I, F>): RecordView<I, F>[] {
    return Array.from({ length: this.count(r) }, (_, i) => this.record(r, i));
  }

  bytes(r: BytesRegionToken): { sab: SharedArrayBuffer; byteOffset: number; byteLength: number } {
    const p = this.layout.regions[r.name];
    if (!p || p.kind !== 'bytes') throw new Error(`no bytes region ${r.name}`);
    return { sab: this.sab, byteOffset: p.offset, byteLength: p.byteLength };
  }

  private structRegion(name: string): StructRegion {
    const p = this.layout.regions[name];
    if (!p || p.kind !== 'struct') throw new Error(`no struct region ${name}`);
    return p;
  }
}
