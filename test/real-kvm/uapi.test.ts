import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IOCTL, KVM_CAP, KVM_EXIT, KVM_RUN_OFFSET, REGS_FIELD, SEGMENT_FIELD, SIZE, SREGS_SEGMENT, IRQFD_FIELD, IRQCHIP_IOAPIC_REDIRTBL, CPUID_ENTRY_FIELD } from '../../src/real-kvm/uapi.ts';

// haltlab's ioctl numbers and structure layouts against <linux/kvm.h>, compiled by the C compiler
// where one and the headers are installed (the numbers are x86-64's).

const compiler = ['cc', 'gcc'].find((c) => {
  try {
    execFileSync(c, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
const headers = existsSync('/usr/include/linux/kvm.h');
const why = !compiler ? 'no C compiler' : !headers ? 'no /usr/include/linux/kvm.h' : process.arch !== 'x64' ? `not x86-64 (${process.arch})` : '';
const dir = mkdtempSync(join(tmpdir(), 'haltlab-uapi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fromHeaders(exprs: Record<string, string>): Record<string, number> {
  const src = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <linux/kvm.h>',
    'int main(void) {',
    ...Object.entries(exprs).map(([k, e]) => `  printf("%s %lu\\n", "${k}", (unsigned long)(${e}));`),
    '  return 0;',
    '}',
  ].join('\n');
  writeFileSync(join(dir, 'p.c'), src);
  execFileSync(compiler!, ['-o', join(dir, 'p'), join(dir, 'p.c')]);
  return Object.fromEntries(
    execFileSync(join(dir, 'p'), { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k, Number(v)]),
  );
}

describe('the KVM userspace API as haltlab writes it', () => {
  it.skipIf(why !== '')(`matches <linux/kvm.h>${why ? ` (not checked here: ${why})` : ''}`, () => {
    const h = fromHeaders({
      ...Object.fromEntries(Object.keys(IOCTL).map((k) => [k, k])),
      ...Object.fromEntries(Object.keys(KVM_CAP).map((k) => [k, k])),
      ...Object.fromEntries(Object.keys(KVM_EXIT).map((k) => [k, k])),
      kvm_userspace_memory_region: 'sizeof(struct kvm_userspace_memory_region)',
      kvm_regs: 'sizeof(struct kvm_regs)',
      kvm_sregs: 'sizeof(struct kvm_sregs)',
      kvm_segment: 'sizeof(struct kvm_segment)',
      kvm_cpuid2: 'sizeof(struct kvm_cpuid2)',
      kvm_cpuid_entry2: 'sizeof(struct kvm_cpuid_entry2)',
      kvm_irqfd: 'sizeof(struct kvm_irqfd)',
      kvm_enable_cap: 'sizeof(struct kvm_enable_cap)',
      kvm_device_attr: 'sizeof(struct kvm_device_attr)',
      kvm_mp_state: 'sizeof(struct kvm_mp_state)',
      kvm_irqchip: 'sizeof(struct kvm_irqchip)',
      kvm_stats_header: 'sizeof(struct kvm_stats_header)',
      kvm_stats_desc: 'sizeof(struct kvm_stats_desc)',
      run_immediate_exit: 'offsetof(struct kvm_run, immediate_exit)',
      run_exit_reason: 'offsetof(struct kvm_run, exit_reason)',
      run_io_port: 'offsetof(struct kvm_run, io.port)',
      run_io_data_offset: 'offsetof(struct kvm_run, io.data_offset)',
      run_internal_suberror: 'offsetof(struct kvm_run, internal.suberror)',
      sregs_cs: 'offsetof(struct kvm_sregs, cs)',
      sregs_ds: 'offsetof(struct kvm_sregs, ds)',
      sregs_es: 'offsetof(struct kvm_sregs, es)',
      sregs_ss: 'offsetof(struct kvm_sregs, ss)',
      seg_base: 'offsetof(struct kvm_segment, base)',
      seg_selector: 'offsetof(struct kvm_segment, selector)',
      regs_rsp: 'offsetof(struct kvm_regs, rsp)',
      regs_rip: 'offsetof(struct kvm_regs, rip)',
      regs_rflags: 'offsetof(struct kvm_regs, rflags)',
      irqfd_resamplefd: 'offsetof(struct kvm_irqfd, resamplefd)',
      cpuid_function: 'offsetof(struct kvm_cpuid_entry2, function)',
      cpuid_ecx: 'offsetof(struct kvm_cpuid_entry2, ecx)',
      irqfd_flags: 'offsetof(struct kvm_irqfd, flags)',
      redirtbl: 'offsetof(struct kvm_irqchip, chip) + offsetof(struct kvm_ioapic_state, redirtbl)',
    });
    for (const [k, v] of [...Object.entries(IOCTL), ...Object.entries(KVM_CAP), ...Object.entries(KVM_EXIT)]) expect([k, v]).toEqual([k, h[k]]);
    for (const [k, v] of Object.entries(SIZE)) if (k in h) expect([k, v]).toEqual([k, h[k]]);
    expect([KVM_RUN_OFFSET.immediate_exit, KVM_RUN_OFFSET.exit_reason, KVM_RUN_OFFSET.io_port, KVM_RUN_OFFSET.io_data_offset, KVM_RUN_OFFSET.internal_suberror]).toEqual([
      h.run_immediate_exit,
      h.run_exit_reason,
      h.run_io_port,
      h.run_io_data_offset,
      h.run_internal_suberror,
    ]);
    expect([SREGS_SEGMENT.cs, SREGS_SEGMENT.ds, SREGS_SEGMENT.es, SREGS_SEGMENT.ss, SEGMENT_FIELD.base, SEGMENT_FIELD.selector]).toEqual([h.sregs_cs, h.sregs_ds, h.sregs_es, h.sregs_ss, h.seg_base, h.seg_selector]);
    expect([REGS_FIELD.rsp, REGS_FIELD.rip, REGS_FIELD.rflags]).toEqual([h.regs_rsp, h.regs_rip, h.regs_rflags]);
    expect([CPUID_ENTRY_FIELD.function, CPUID_ENTRY_FIELD.ecx]).toEqual([h.cpuid_function, h.cpuid_ecx]);
    expect([IRQFD_FIELD.flags, IRQFD_FIELD.resamplefd, IRQCHIP_IOAPIC_REDIRTBL]).toEqual([h.irqfd_flags, h.irqfd_resamplefd, h.redirtbl]);
  });
});
