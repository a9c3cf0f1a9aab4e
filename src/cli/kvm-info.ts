import { grid } from './table.ts';
import { HALT_POLL_CAP, probeHostKvm, REQUIRED_CAPS, verdict, type HostKvm } from '../real-kvm/host-kvm.ts';
import { KVM_WORKLOADS } from '../real-kvm/scenario-support.ts';

/**
 * `haltlab kvm`: what this machine's /dev/kvm offers the kvm backend, and the one-line verdict.
 * With a usable /dev/kvm it also builds a throwaway VM to read the guest's TSC rate, the only
 * figure that needs a vCPU.
 */

export interface KvmInfo extends HostKvm {
  /** KVM_GET_TSC_KHZ of a throwaway vCPU (null without a usable /dev/kvm). */
  tsc_khz: number | null;
  /** The scenarios the kvm backend runs, and what they need. */
  scenarios: string[];
  verdict: string;
}

export async function kvmInfo(): Promise<KvmInfo> {
  const host = probeHostKvm();
  let tscKhz: number | null = null;
  if (host.usable) {
    const { libc } = await import('../real-kvm/libc.ts');
    const { KvmVm } = await import('../real-kvm/kvm-vm.ts');
    const vm = new KvmVm(libc(), { vcpus: 1, haltPollNs: null, timerDeltaNs: 0, devices: false });
    try {
      tscKhz = vm.tscKhz;
    } finally {
      vm.close();
    }
  }
  return { ...host, tsc_khz: tscKhz, scenarios: [...KVM_WORKLOADS], verdict: verdict(host) };
}

export function renderKvmInfo(k: KvmInfo): string {
  const yes = (n: number | undefined) => (n === undefined ? '?' : n ? `yes${n > 1 ? ` (${n})` : ''}` : 'NO');
  const out = [
    `/dev/kvm: ${k.device}${k.api_version !== null ? `, KVM_GET_API_VERSION ${k.api_version}` : ''}`,
    `kernel: ${k.kernel}; vendor module: ${k.vendor_module ?? 'none found in /sys/module'}`,
  ];
  if (k.kernel_messages.length) out.push('kernel messages about KVM (dmesg):', ...k.kernel_messages.map((l) => `  ${l}`));
  const params = Object.entries(k.module_params);
  if (params.length) {
    out.push('', 'module parameters (/sys/module/kvm/parameters):');
    out.push(grid(['parameter', 'value', 'writable'], params.map(([name, p]) => [name, p.value, p.writable ? 'yes' : 'no'])));
    out.push('(whatever they allow, a VMM sets only halt_poll_ns, per VM, through KVM_CAP_HALT_POLL: so does --backend kvm)');
  }
  if (k.api_version !== null) {
    out.push('', 'capabilities the kvm backend uses (KVM_CHECK_EXTENSION):');
    out.push(grid(['capability', 'here', 'for'], [...REQUIRED_CAPS, HALT_POLL_CAP].map((r) => [r.cap, yes(k.caps[r.cap]), r.why])));
  }
  if (k.tsc_khz !== null) out.push('', `guest TSC: ${(k.tsc_khz / 1000).toFixed(3)} MHz (KVM_GET_TSC_KHZ), the host's, offset 0`);
  out.push('', `scenarios on --backend kvm: ${k.scenarios.join(', ')} (halt_poll_ns per VM; the rest of each scenario's knobs as the model has them)`);
  if (!k.usable && k.problems.length > 1) out.push(...k.problems.slice(1).map((p) => `also: ${p}`));
  out.push('', `verdict: ${k.verdict}`);
  return out.join('\n');
}
