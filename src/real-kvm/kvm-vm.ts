import { check, checkMap, EFD_CLOEXEC, MAP_ANONYMOUS, MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE, type Libc, type Pointer } from './libc.ts';
import { StatsReader } from './stats-fd.ts';
import {
  CPUID_1_ECX_TSC_DEADLINE,
  CPUID_1_ECX_X2APIC,
  CPUID_ENTRY_FIELD,
  IOCTL,
  IRQCHIP_IOAPIC_REDIRTBL,
  IRQFD_FIELD,
  ioapicRedirection,
  KVM_CAP,
  KVM_IOAPIC_NUM_PINS,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQFD_FLAG_RESAMPLE,
  KVM_MP_STATE_RUNNABLE,
  KVM_VCPU_TSC_CTRL,
  KVM_VCPU_TSC_OFFSET,
  REGS_FIELD,
  SEGMENT_FIELD,
  SIZE,
  SREGS_SEGMENT,
  type IoctlName,
} from './uapi.ts';
import { GUEST_IMAGE, GUEST_LOAD_ADDRESS, GUEST_SYMBOLS as G } from './guest/image.ts';

/**
 * A VM on /dev/kvm, built the way a VMM builds one (QEMU's order): KVM_CREATE_VM, the per-VM
 * halt-polling cap, KVM_CREATE_IRQCHIP before any vCPU, guest RAM, then each vCPU with its
 * kvm_run page, CPUID (x2APIC and the TSC-deadline timer advertised), a TSC offset of 0 (the
 * guest's TSC is the host's: one timebase for both sides of a latency), its registers, and its
 * stats fd. A device interrupt per vCPU is an IOAPIC pin fed by an irqfd with a resamplefd: the
 * I/O thread raises the line by writing the eventfd and learns of the guest's EOI by reading the
 * resamplefd, as QEMU's INTx passthrough does. close() releases every fd and mapping, whatever
 * was built.
 */

export const GUEST_RAM_BYTES = 1 << 20;
/** Each vCPU's real-mode segment (control block, stack, sample rings) starts here, 64 KiB apart. */
const SEGMENT_BASE = 0x10000;
const SEGMENT_BYTES = 0x10000;
/** Device interrupts use IOAPIC pins from 16 up: pins the legacy PIC does not share. */
const FIRST_DEVICE_PIN = 16;
export const MAX_KVM_VCPUS = KVM_IOAPIC_NUM_PINS - FIRST_DEVICE_PIN;
const IVT_ENTRIES = 256;

export interface KvmVmOptions {
  vcpus: number;
  /** KVM_ENABLE_CAP(KVM_CAP_HALT_POLL, ns); null: the module's halt_poll_ns applies. */
  haltPollNs: number | null;
  /** The guest timer's re-arm delta, ns (0: the guest arms no timer); written as TSC cycles at KVM_GET_TSC_KHZ. */
  timerDeltaNs: number;
  /** One device interrupt line per vCPU (irqfd + resamplefd). */
  devices: boolean;
  /** Where the vCPUs start: the guest kernel (_start), or the exit-rate calibration's OUT loop. */
  entry?: 'kernel' | 'exit_loop';
}

export interface KvmVcpuHandle {
  id: number;
  fd: number;
  run: Pointer;
  /** The vCPU's segment in guest RAM, as an address in this process. */
  segment: Pointer;
  stats: StatsReader;
  /** irqfd and resamplefd of the vCPU's device line (-1 without a device). */
  irqfd: number;
  resamplefd: number;
}

/** A KVM ioctl that failed: its name, the errno, and what was being done. */
export class KvmIoctlError extends Error {
  constructor(
    readonly ioctl: string,
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'KvmIoctlError';
  }
}

export class KvmVm {
  readonly kvmFd: number;
  vmFd = -1;
  readonly vcpus: KvmVcpuHandle[] = [];
  runSize = 0;
  ram: Pointer = 0n;
  tscKhz = 0;
  private readonly fds: number[] = [];
  private readonly maps: [Pointer, number][] = [];

  constructor(
    private readonly c: Libc,
    readonly options: KvmVmOptions,
  ) {
    if (options.vcpus < 1 || options.vcpus > MAX_KVM_VCPUS) throw new RangeError(`the kvm backend runs 1..${MAX_KVM_VCPUS} vCPUs, got ${options.vcpus}`);
    this.kvmFd = this.fd(check(c, 'open /dev/kvm', c.open('/dev/kvm', O_RDWR | O_CLOEXEC)));
    try {
      this.build();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private fd(n: number): number {
    this.fds.push(n);
    return n;
  }

  private ioctl(fd: number, name: IoctlName, arg: Buffer | number | null, doing: string): number {
    const r = typeof arg === 'number' ? this.c.ioctlInt(fd, IOCTL[name], arg) : this.c.ioctl(fd, IOCTL[name], arg);
    if (r < 0) {
      const errno = this.c.errno();
      throw new KvmIoctlError(name, errno, `${name} failed (${doing}): errno ${errno}`);
    }
    return r;
  }

  private map(len: number, prot: number, flags: number, fd: number, what: string): Pointer {
    const p = checkMap(this.c, `mmap(${what})`, this.c.mmap(null, len, prot, flags, fd, 0));
    this.maps.push([p, len]);
    return p;
  }

  private build(): void {
    const { c, options: o } = this;
    this.vmFd = this.fd(this.ioctl(this.kvmFd, 'KVM_CREATE_VM', 0, 'creating the VM'));
    if (o.haltPollNs !== null) this.enableCapHaltPoll(o.haltPollNs);
    this.ioctl(this.vmFd, 'KVM_CREATE_IRQCHIP', 0, 'the in-kernel PIC, IOAPIC and LAPICs');
    this.ram = this.map(GUEST_RAM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 'guest RAM');
    const region = Buffer.alloc(SIZE.kvm_userspace_memory_region);
    region.writeBigUInt64LE(0n, 8); // guest_phys_addr
    region.writeBigUInt64LE(BigInt(GUEST_RAM_BYTES), 16);
    region.writeBigUInt64LE(this.ram, 24);
    this.ioctl(this.vmFd, 'KVM_SET_USER_MEMORY_REGION', region, 'guest RAM at GPA 0');
    this.loadGuest();
    this.runSize = this.ioctl(this.kvmFd, 'KVM_GET_VCPU_MMAP_SIZE', 0, 'the kvm_run size');
    const cpuid = this.supportedCpuid();
    for (let id = 0; id < o.vcpus; id++) this.vcpus.push(this.createVcpu(id, cpuid));
    this.tscKhz = this.ioctl(this.vcpus[0].fd, 'KVM_GET_TSC_KHZ', 0, "the guest's TSC rate");
    const delta = BigInt(Math.round((o.timerDeltaNs * this.tscKhz) / 1e6));
    for (const v of this.vcpus) new DataView(c.view(v.segment, 0x40)).setBigUint64(G.CB_DELTA, delta, true);
    if (o.devices) this.connectDevices();
  }

  /**
   * KVM_ENABLE_CAP(KVM_CAP_HALT_POLL): the VM's halt-polling ceiling, replacing the module's
   * halt_poll_ns for this VM (kvm->max_halt_poll_ns); allowed at any time, read at each halt.
   */
  enableCapHaltPoll(ns: number): void {
    const cap = Buffer.alloc(SIZE.kvm_enable_cap);
    cap.writeUInt32LE(KVM_CAP.KVM_CAP_HALT_POLL, 0);
    cap.writeBigUInt64LE(BigInt(ns), 8);
    this.ioctl(this.vmFd, 'KVM_ENABLE_CAP', cap, `KVM_CAP_HALT_POLL ${ns} ns`);
  }

  /** The guest image at its load address; its interrupt table; each vCPU's control block. */
  private loadGuest(): void {
    const ram = new Uint8Array(this.c.view(this.ram, GUEST_RAM_BYTES));
    ram.set(GUEST_IMAGE, GUEST_LOAD_ADDRESS);
    const ivt = new DataView(ram.buffer, 0, IVT_ENTRIES * 4);
    for (let v = 0; v < IVT_ENTRIES; v++) {
      const isr = v === G.TIMER_VECTOR ? G.timer_isr : v >= G.DEVICE_VECTOR && v < G.DEVICE_VECTOR + MAX_KVM_VCPUS ? G.device_isr : G.spurious_isr;
      ivt.setUint16(4 * v, isr, true); // offset; the segment (word 2) stays 0
    }
  }

  private supportedCpuid(): Buffer {
    const max = 256;
    const cpuid = Buffer.alloc(SIZE.kvm_cpuid2 + max * SIZE.kvm_cpuid_entry2);
    cpuid.writeUInt32LE(max, 0);
    this.ioctl(this.kvmFd, 'KVM_GET_SUPPORTED_CPUID', cpuid, 'the CPUID KVM supports');
    // x2APIC and the TSC-deadline timer, which KVM emulates whatever the host has (it reports the
    // latter through KVM_CAP_TSC_DEADLINE_TIMER, not in the supported CPUID).
    for (let i = 0, n = cpuid.readUInt32LE(0); i < n; i++) {
      const e = SIZE.kvm_cpuid2 + i * SIZE.kvm_cpuid_entry2;
      if (cpuid.readUInt32LE(e + CPUID_ENTRY_FIELD.function) !== 1) continue;
      const ecx = e + CPUID_ENTRY_FIELD.ecx;
      cpuid.writeUInt32LE((cpuid.readUInt32LE(ecx) | CPUID_1_ECX_X2APIC | CPUID_1_ECX_TSC_DEADLINE) >>> 0, ecx);
    }
    return cpuid;
  }

  private createVcpu(id: number, cpuid: Buffer): KvmVcpuHandle {
    const fd = this.fd(this.ioctl(this.vmFd, 'KVM_CREATE_VCPU', id, `vCPU ${id}`));
    const run = this.map(this.runSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, `vcpu${id} kvm_run`);
    this.ioctl(fd, 'KVM_SET_CPUID2', cpuid, `vcpu${id} CPUID`);
    // The guest's TSC is the host's: no offset (KVM would otherwise start the guest at 0).
    const zero = Buffer.alloc(8);
    const attr = Buffer.alloc(SIZE.kvm_device_attr);
    attr.writeUInt32LE(KVM_VCPU_TSC_CTRL, 4);
    attr.writeBigUInt64LE(BigInt(KVM_VCPU_TSC_OFFSET), 8);
    attr.writeBigUInt64LE(this.c.koffi.address(zero) as bigint, 16);
    this.ioctl(fd, 'KVM_SET_DEVICE_ATTR', attr, `vcpu${id} KVM_VCPU_TSC_OFFSET 0`);
    const segment = SEGMENT_BASE + id * SEGMENT_BYTES;
    const sregs = Buffer.alloc(SIZE.kvm_sregs);
    this.ioctl(fd, 'KVM_GET_SREGS', sregs, `vcpu${id} segment registers`);
    const seg = (name: keyof typeof SREGS_SEGMENT, base: number) => {
      sregs.writeBigUInt64LE(BigInt(base), SREGS_SEGMENT[name] + SEGMENT_FIELD.base);
      sregs.writeUInt16LE(base >> 4, SREGS_SEGMENT[name] + SEGMENT_FIELD.selector);
    };
    seg('cs', 0);
    for (const s of ['ds', 'es', 'ss'] as const) seg(s, segment);
    this.ioctl(fd, 'KVM_SET_SREGS', sregs, `vcpu${id} segment registers`);
    const regs = Buffer.alloc(SIZE.kvm_regs);
    regs.writeBigUInt64LE(BigInt(this.options.entry === 'exit_loop' ? G.exit_loop : G._start), REGS_FIELD.rip);
    regs.writeBigUInt64LE(2n, REGS_FIELD.rflags); // bit 1 is always set; IF = 0
    this.ioctl(fd, 'KVM_SET_REGS', regs, `vcpu${id} registers`);
    // An AP waits for INIT/SIPI with an in-kernel irqchip; this guest starts every vCPU directly.
    if (id > 0) {
      const mp = Buffer.alloc(SIZE.kvm_mp_state);
      mp.writeUInt32LE(KVM_MP_STATE_RUNNABLE, 0);
      this.ioctl(fd, 'KVM_SET_MP_STATE', mp, `vcpu${id} KVM_MP_STATE_RUNNABLE`);
    }
    const statsFd = this.fd(this.ioctl(fd, 'KVM_GET_STATS_FD', 0, `vcpu${id} stats`));
    const stats = new StatsReader((offset, length) => {
      const b = Buffer.alloc(length);
      const n = this.c.pread(statsFd, b, length, offset);
      if (n !== length) throw new Error(`reading vcpu${id}'s stats fd: ${n < 0 ? `errno ${this.c.errno()}` : `${n} of ${length} bytes`}`);
      return b;
    });
    return { id, fd, run, segment: this.ram + BigInt(segment), stats, irqfd: -1, resamplefd: -1 };
  }

  /**
   * vCPU n's device: IOAPIC pin 16+n, level-triggered, to APIC n, with a vector of its own (an
   * EOI acks every IOAPIC pin of its vector: __kvm_ioapic_update_eoi, and each ack signals that
   * pin's resamplefd); an irqfd with a resamplefd.
   */
  private connectDevices(): void {
    const chip = Buffer.alloc(SIZE.kvm_irqchip);
    chip.writeUInt32LE(KVM_IRQCHIP_IOAPIC, 0);
    this.ioctl(this.vmFd, 'KVM_GET_IRQCHIP', chip, 'the IOAPIC state');
    for (const v of this.vcpus) chip.writeBigUInt64LE(ioapicRedirection(G.DEVICE_VECTOR + v.id, v.id, true), IRQCHIP_IOAPIC_REDIRTBL + 8 * (FIRST_DEVICE_PIN + v.id));
    this.ioctl(this.vmFd, 'KVM_SET_IRQCHIP', chip, 'the IOAPIC redirection table');
    for (const v of this.vcpus) {
      v.irqfd = this.fd(check(this.c, 'eventfd', this.c.eventfd(0, EFD_CLOEXEC)));
      v.resamplefd = this.fd(check(this.c, 'eventfd', this.c.eventfd(0, EFD_CLOEXEC)));
      const irqfd = Buffer.alloc(SIZE.kvm_irqfd);
      irqfd.writeUInt32LE(v.irqfd, IRQFD_FIELD.fd);
      irqfd.writeUInt32LE(FIRST_DEVICE_PIN + v.id, IRQFD_FIELD.gsi);
      irqfd.writeUInt32LE(KVM_IRQFD_FLAG_RESAMPLE, IRQFD_FIELD.flags);
      irqfd.writeUInt32LE(v.resamplefd, IRQFD_FIELD.resamplefd);
      this.ioctl(this.vmFd, 'KVM_IRQFD', irqfd, `vcpu${v.id}'s device line (GSI ${FIRST_DEVICE_PIN + v.id})`);
    }
  }

  /** Everything built, released (a VM lives until its last fd and mapping are gone). Idempotent. */
  close(): void {
    for (const [p, len] of this.maps.splice(0).reverse()) this.c.munmap(p, len);
    for (const fd of this.fds.splice(0).reverse()) this.c.close(fd);
  }
}
