import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { execFileSync } from 'node:child_process';
import { check, libc, O_CLOEXEC, O_RDWR, SyscallError, errnoName, type Libc } from './libc.ts';
import { IOCTL, KVM_API_VERSION, KVM_CAP, type KvmCapName } from './uapi.ts';

/**
 * What this machine's /dev/kvm offers, found out the way a VMM does (open, KVM_GET_API_VERSION,
 * KVM_CHECK_EXTENSION) plus what sysfs says of the modules. `haltlab kvm` prints it; `--backend
 * kvm` refuses to start without what it needs, saying what is missing and how to get it.
 */

/** The halt-polling module parameters (virt/kvm/kvm_main.c), as sysfs has them. */
export const KVM_HALT_POLL_PARAMS = ['halt_poll_ns', 'halt_poll_ns_grow', 'halt_poll_ns_grow_start', 'halt_poll_ns_shrink'] as const;
export type KvmHaltPollParam = (typeof KVM_HALT_POLL_PARAMS)[number];
const OTHER_PARAMS = ['lapic_timer_advance', 'min_timer_period_us', 'pi_inject_timer'] as const;
const VENDOR_MODULES = ['kvm_intel', 'kvm_amd', 'kvm_pvm'] as const;

/** The capabilities the kvm backend's scenarios use, each with why. */
export const REQUIRED_CAPS: { cap: KvmCapName; why: string }[] = [
  { cap: 'KVM_CAP_IRQCHIP', why: 'the in-kernel LAPIC: HLT blocks in KVM_RUN (kvm_vcpu_halt)' },
  { cap: 'KVM_CAP_IRQFD', why: 'the device raises its line through an irqfd' },
  { cap: 'KVM_CAP_TSC_DEADLINE_TIMER', why: "the guest's timer (timer-latency, idle-tick)" },
  { cap: 'KVM_CAP_GET_TSC_KHZ', why: 'TSC cycles to ns' },
  { cap: 'KVM_CAP_VCPU_ATTRIBUTES', why: "KVM_VCPU_TSC_OFFSET 0: the guest's TSC is the host's" },
  { cap: 'KVM_CAP_IMMEDIATE_EXIT', why: 'kicks that cannot be lost (immediate_exit + signal)' },
  { cap: 'KVM_CAP_BINARY_STATS_FD', why: "KVM's statistics by name" },
];
/** KVM_CAP_HALT_POLL: needed only to set halt_poll_ns per VM. */
export const HALT_POLL_CAP = { cap: 'KVM_CAP_HALT_POLL' as const, why: 'halt_poll_ns per VM (KVM_ENABLE_CAP)' };

export interface ModuleParam {
  value: string;
  writable: boolean;
}

export interface HostKvm {
  /** /dev/kvm opens and answers API version 12 with every required capability. */
  usable: boolean;
  device: 'present' | 'absent';
  /** Why it cannot be used and what would make it usable (empty when usable). */
  problems: string[];
  kernel: string;
  /** kvm_intel, kvm_amd or kvm_pvm: the vendor module that registered /dev/kvm (or is present but did not). */
  vendor_module: string | null;
  api_version: number | null;
  /** KVM_CHECK_EXTENSION on /dev/kvm, by capability name. */
  caps: Partial<Record<KvmCapName, number>>;
  /** /sys/module/kvm/parameters: the halt-polling ones and the timer's, with whether they can be written. */
  module_params: Record<string, ModuleParam>;
  /** The kernel's own words about KVM (dmesg), when readable: why a vendor module did not bind, for one. */
  kernel_messages: string[];
}

function readParam(module: string, name: string): ModuleParam | null {
  const file = `/sys/module/${module}/parameters/${name}`;
  try {
    const value = readFileSync(file, 'utf8').trim();
    let writable = (statSync(file).mode & 0o222) !== 0;
    if (writable) {
      try {
        accessSync(file, constants.W_OK);
      } catch {
        writable = false;
      }
    }
    return { value, writable };
  } catch {
    return null;
  }
}

function kernelMessages(): string[] {
  try {
    return execFileSync('dmesg', [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 })
      .split('\n')
      .filter((l) => /kvm/i.test(l) && !/kvm-clock|kvmclock/i.test(l))
      .map((l) => l.replace(/^\[\s*[\d.]+\]\s*/, ''))
      .slice(-8);
  } catch {
    return [];
  }
}

export function probeHostKvm(load: () => Libc = () => libc()): HostKvm {
  const params: Record<string, ModuleParam> = {};
  for (const p of [...KVM_HALT_POLL_PARAMS, ...OTHER_PARAMS]) {
    const v = readParam('kvm', p);
    if (v) params[p] = v;
  }
  const vendor = VENDOR_MODULES.find((m) => existsSync(`/sys/module/${m}`)) ?? null;
  const out: HostKvm = {
    usable: false,
    device: existsSync('/dev/kvm') ? 'present' : 'absent',
    problems: [],
    kernel: release(),
    vendor_module: vendor,
    api_version: null,
    caps: {},
    module_params: params,
    kernel_messages: [],
  };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    out.problems.push(`the kvm backend drives x86-64 Linux KVM; this is ${process.platform}-${process.arch}`);
    return out;
  }
  if (out.device === 'absent') {
    out.kernel_messages = kernelMessages();
    const modules = readdirSync('/sys/module').filter((m) => m === 'kvm' || m.startsWith('kvm_'));
    out.problems.push(
      modules.length
        ? `no /dev/kvm: the kernel has ${modules.join(', ')} but no vendor module registered the device${out.kernel_messages.length ? ' (the kernel says why: see its messages)' : ''}; on a VM, enable nested virtualisation on its host`
        : 'no /dev/kvm: load kvm_intel or kvm_amd (modprobe), with virtualisation enabled in the firmware; on a VM, enable nested virtualisation on its host',
    );
    return out;
  }
  let c: Libc;
  try {
    c = load();
  } catch (e) {
    out.problems.push(`koffi, the FFI the kvm backend calls ioctl(2) through, does not load here: ${(e as Error).message}`);
    return out;
  }
  let fd = -1;
  try {
    fd = check(c, 'open /dev/kvm', c.open('/dev/kvm', O_RDWR | O_CLOEXEC));
  } catch (e) {
    const errno = e instanceof SyscallError ? e.errno : 0;
    out.problems.push(
      errnoName(errno) === 'EACCES'
        ? `/dev/kvm is not open to this user (uid ${process.getuid?.()}): run as root, or join the group that owns it (usually kvm: sudo usermod -aG kvm $USER, then log in again)`
        : `/dev/kvm does not open: ${(e as Error).message}`,
    );
    return out;
  }
  try {
    out.api_version = c.ioctlInt(fd, IOCTL.KVM_GET_API_VERSION, 0);
    for (const [name, n] of Object.entries(KVM_CAP) as [KvmCapName, number][]) out.caps[name] = Math.max(0, c.ioctlInt(fd, IOCTL.KVM_CHECK_EXTENSION, n));
  } finally {
    c.close(fd);
  }
  if (out.api_version !== KVM_API_VERSION) out.problems.push(`KVM_GET_API_VERSION is ${out.api_version}, not ${KVM_API_VERSION}`);
  for (const r of REQUIRED_CAPS) if (!out.caps[r.cap]) out.problems.push(`${r.cap} is missing (needed for ${r.why})`);
  out.usable = out.problems.length === 0;
  return out;
}

/** The one-line verdict `haltlab kvm` ends with, and `--backend kvm` starts its errors with. */
export function verdict(h: HostKvm): string {
  if (h.usable) return `usable: /dev/kvm (${h.vendor_module ?? 'vendor module unknown'}, API ${h.api_version}, kernel ${h.kernel}) runs haltlab's kvm backend`;
  return `not usable: ${h.problems[0]}`;
}
