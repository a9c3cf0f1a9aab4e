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
}
interface BytesRegion {
  kind: 'bytes';
  offset: number;
  byteLength: number;
}
type Region = StructRegion | BytesRegion;

/** The plan of a buffer: plain data, so it crosses to workers in workerData. */
export interface Layout {
  readonly byteLength: number;
  readonly regions: Readonly<Record<string, Region>>;
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export class LayoutBuilder {
  private offset = 0;
  private readonly regions: Record<string, Region> = {};

  struct(name: string, def: StructDef<readonly FieldSpec[], readonly FieldSpec[]>, count: number): this {
    this.claim(name);
    const i32Offset = align(this.offset, CACHE_LINE);
    const f64Offset = align(i32Offset + count * def.i32.size * 4, CACHE_LINE);
    this.offset = f64Offset + count * def.f64.size * 8;
    this.regions[name] = { kind: 'struct', count, i32Offset, i32Size: def.i32.size, f64Offset, f64Size: def.f64.size };
    return this;
  }

  bytes(name: string, byteLength: number): this {
    this.claim(name);
    const offset = align(this.offset, CACHE_LINE);
    this.offset = offset + byteLength;
    this.regions[name] = { kind: 'bytes', offset, byteLength };
    return this;
  }

  build(): Layout {
    return { byteLength: align(this.offset, CACHE_LINE), regions: { ...this.regions } };
  }

  private claim(name: string): void {
    if (name in this.regions) throw new Error(`region ${name} declared twice`);
  }
}

/** One record of a struct region: its Int32 and Float64 words, indexed by the struct's field tables. */
export interface Record32x64 {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
}

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

  count(name: string): number {
    return this.structRegion(name).count;
  }

  record(name: string, index: number): Record32x64 {
    const r = this.structRegion(name);
    if (!Number.isInteger(index) || index < 0 || index >= r.count) {
      throw new RangeError(`${name}[${index}] out of range (${r.count} records)`);
    }
    return {
      i32: new Int32Array(this.sab, r.i32Offset + index * r.i32Size * 4, r.i32Size),
      f64: new Float64Array(this.sab, r.f64Offset + index * r.f64Size * 8, r.f64Size),
    };
  }

  records(name: string): Record32x64[] {
    return Array.from({ length: this.count(name) }, (_, i) => this.record(name, i));
  }

  bytes(name: string): { sab: SharedArrayBuffer; byteOffset: number; byteLength: number } {
    const r = this.layout.regions[name];
    if (!r || r.kind !== 'bytes') throw new Error(`no bytes region ${name}`);
    return { sab: this.sab, byteOffset: r.offset, byteLength: r.byteLength };
  }

  private structRegion(name: string): StructRegion {
    const r = this.layout.regions[name];
    if (!r || r.kind !== 'struct') throw new Error(`no struct region ${name}`);
    return r;
  }
}
