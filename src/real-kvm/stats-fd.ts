import { SIZE } from './uapi.ts';

/**
 * KVM's binary statistics (KVM_GET_STATS_FD, Documentation/virt/kvm/api.rst §4.134): a header,
 * one descriptor per statistic (flags, exponent, size, offset, bucket size, name), then the data.
 * The descriptors are read once; the data is re-read whenever the values are wanted. Parsing works
 * on bytes through a `pread` callback, so recorded bytes test it where there is no /dev/kvm.
 */

export type StatType = 'cumulative' | 'instant' | 'peak' | 'linear_hist' | 'log_hist';
export type StatUnit = 'none' | 'bytes' | 'seconds' | 'cycles' | 'boolean';

const TYPES: StatType[] = ['cumulative', 'instant', 'peak', 'linear_hist', 'log_hist'];
const UNITS: StatUnit[] = ['none', 'bytes', 'seconds', 'cycles', 'boolean'];

export interface StatsHeader {
  flags: number;
  name_size: number;
  num_desc: number;
  id_offset: number;
  desc_offset: number;
  data_offset: number;
}

export interface StatDescriptor {
  name: string;
  type: StatType;
  unit: StatUnit;
  /** 10 or 2: the base of `exponent`. */
  base: 10 | 2;
  exponent: number;
  /** Number of u64 values (1, or the buckets of a histogram). */
  size: number;
  /** Byte offset of the values from the header's data_offset. */
  offset: number;
  bucket_size: number;
}

/** Reads `length` bytes at `offset` of the stats fd. */
export type PreadBytes = (offset: number, length: number) => Buffer;

export function parseStatsHeader(b: Buffer): StatsHeader {
  if (b.length < SIZE.kvm_stats_header) throw new Error(`kvm_stats_header: ${b.length} bytes, expected ${SIZE.kvm_stats_header}`);
  const u32 = (i: number) => b.readUInt32LE(4 * i);
  return { flags: u32(0), name_size: u32(1), num_desc: u32(2), id_offset: u32(3), desc_offset: u32(4), data_offset: u32(5) };
}

/** The descriptors, from the bytes at desc_offset (each SIZE.kvm_stats_desc + name_size long). */
export function parseStatsDescriptors(b: Buffer, h: StatsHeader): StatDescriptor[] {
  const stride = SIZE.kvm_stats_desc + h.name_size;
  if (b.length < stride * h.num_desc) throw new Error(`kvm_stats_desc: ${b.length} bytes for ${h.num_desc} descriptors of ${stride}`);
  return Array.from({ length: h.num_desc }, (_, i) => {
    const o = i * stride;
    const flags = b.readUInt32LE(o);
    const name = b.subarray(o + SIZE.kvm_stats_desc, o + stride);
    const type = TYPES[flags & 0xf];
    const unit = UNITS[(flags >> 4) & 0xf];
    if (!type || !unit) throw new Error(`kvm_stats_desc ${i}: unknown type/unit in flags 0x${flags.toString(16)}`);
    return {
      name: name.subarray(0, name.indexOf(0) < 0 ? name.length : name.indexOf(0)).toString('latin1'),
      type,
      unit,
      base: ((flags >> 8) & 0xf) === 1 ? 2 : 10,
      exponent: b.readInt16LE(o + 4),
      size: b.readUInt16LE(o + 6),
      offset: b.readUInt32LE(o + 8),
      bucket_size: b.readUInt32LE(o + 12),
    };
  });
}

/** A statistic's values in haltlab's units: time as ns, everything else as KVM counts it. */
export type StatValue = number | number[];

/** One value in haltlab's units: seconds scaled to ns (haltlab's *_ns keys); counts as they are. */
function scaled(d: StatDescriptor, raw: bigint): number {
  const v = Number(raw);
  if (d.unit !== 'seconds') return d.base === 10 ? v * 10 ** d.exponent : v * 2 ** d.exponent;
  return d.base === 10 ? v * 10 ** (d.exponent + 9) : v * 2 ** d.exponent * 1e9;
}

/** Decode the data block (the bytes from data_offset) into name -> value(s). */
export function decodeStats(descs: readonly StatDescriptor[], data: Buffer): Record<string, StatValue> {
  const out: Record<string, StatValue> = {};
  for (const d of descs) {
    const values = Array.from({ length: d.size }, (_, k) => scaled(d, data.readBigUInt64LE(d.offset + 8 * k)));
    out[d.name] = d.type === 'linear_hist' || d.type === 'log_hist' ? values : values[0];
  }
  return out;
}

/** A stats fd, its header and descriptors read once. */
export class StatsReader {
  readonly header: StatsHeader;
  readonly descriptors: StatDescriptor[];
  /** The stats' owner as KVM names it, e.g. kvm-1234/vcpu-0. */
  readonly id: string;
  private readonly dataBytes: number;

  constructor(private readonly pread: PreadBytes) {
    this.header = parseStatsHeader(pread(0, SIZE.kvm_stats_header));
    const h = this.header;
    this.descriptors = parseStatsDescriptors(pread(h.desc_offset, (SIZE.kvm_stats_desc + h.name_size) * h.num_desc), h);
    const id = pread(h.id_offset, h.name_size);
    this.id = id.subarray(0, id.indexOf(0) < 0 ? id.length : id.indexOf(0)).toString('latin1');
    this.dataBytes = Math.max(0, ...this.descriptors.map((d) => d.offset + 8 * d.size));
  }

  /** The whole file as it is now, header to data (for recording fixtures). */
  bytes(): Buffer {
    return this.pread(0, this.header.data_offset + this.dataBytes);
  }

  read(): Record<string, StatValue> {
    return decodeStats(this.descriptors, this.pread(this.header.data_offset, this.dataBytes));
  }
}
