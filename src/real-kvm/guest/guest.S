# haltlab's real-KVM guest: a tiny x86 kernel for /dev/kvm, in real mode.
#
# Real mode because it is the least machinery that still has everything the idle path needs: an
# interrupt table, the x2APIC through MSRs, the TSC-deadline timer and HLT. (On kvm_pvm every CPL0
# instruction is emulated, about 0.4-0.55 us each, so the guest is kept to a handful of them around
# HLT and in its handlers; each handler measures its own cost.)
#
# Every vCPU runs this same code at CS:IP = 0:_start. The host gives each vCPU its own 64 KiB
# segment in DS = ES = SS (its control block, stack and sample rings) and fills the interrupt table
# at linear 0: vector 0x40 -> timer_isr, 0x41 + n -> device_isr for vCPU n's device (a vector per
# device: the IOAPIC acks every pin of a vector at each EOI), every other vector -> spurious_isr.
#
# The guest never exits to userspace once it runs: the host reads the samples out of guest memory
# while the vCPU halts, and stops the vCPU with a signal. (exit_loop, the exit-rate calibration's
# entry point, is the one exception: it exits on every instruction it can.)
#
# Build: npm run build:kvm-guest (GNU as and ld), which regenerates image.ts; a test checks that
# image.ts is what this file assembles to.

.code16

# The control block, at offset 0 of the vCPU's segment.
.set CB_DELTA,        0x00  # u64, host: the timer's re-arm delta in TSC cycles (0: no timer)
.set CB_DEADLINE,     0x08  # u64, guest: the deadline it programmed last
.set CB_INJECT_TSC,   0x10  # u64, host: its TSC just before it raised the device interrupt
.set CB_READY,        0x18  # u32, guest: 1 once the APIC and the timer are set up
.set CB_TIMER_COUNT,  0x1c  # u32, guest: timer samples published (slot = count mod RING_SLOTS)
.set CB_BOOT_TSC,     0x20  # u64, guest: its TSC at start-up (the host checks the timebase with it)
.set CB_DEVICE_COUNT, 0x28  # u32, guest: device samples published
.set STACK_TOP,       0x1000
# Two rings of RING_SLOTS slots of 8 bytes: i32 sample (TSC cycles, saturated), u32 handler cost (TSC cycles).
.set TIMER_RING,      0x4000
.set DEVICE_RING,     0x8000
.set RING_SLOTS,      2048

.set TIMER_VECTOR,   0x40
.set DEVICE_VECTOR,  0x41                # vCPU n's device: DEVICE_VECTOR + n
.set SPURIOUS_VECTOR, 0xff
.set DEBUG_PORT,     0xe9                 # Bochs/QEMU's debug console port: an exit the VMM counts

.set MSR_IA32_APIC_BASE,   0x1b
.set MSR_IA32_TSC_DEADLINE, 0x6e0
.set MSR_X2APIC_EOI,       0x80b
.set MSR_X2APIC_SPIV,      0x80f
.set MSR_X2APIC_LVT_TIMER, 0x832
.set APIC_BASE_EN_EXTD,    0xc00            # global enable | x2APIC mode
.set LVT_TSC_DEADLINE,     (2 << 17)        # LVT timer mode 10b: TSC-deadline

# deadline = EDX:EAX + delta; IA32_TSC_DEADLINE = deadline
.macro ARM_TIMER
  add CB_DELTA, %eax
  adc CB_DELTA+4, %edx
  mov %eax, CB_DEADLINE
  mov %edx, CB_DEADLINE+4
  mov $MSR_IA32_TSC_DEADLINE, %ecx
  wrmsr
.endm

# Store EDX:EAX (signed TSC cycles, saturated to 32 bits) in the next slot of a ring; leaves BX at the slot.
.macro RECORD ring, count
  mov %eax, %ecx
  sar $31, %ecx
  cmp %ecx, %edx
  je 1f                                   # fits in 32 bits
  mov $0x7fffffff, %eax
  test %edx, %edx
  jns 1f
  mov $0x80000000, %eax
1:
  mov \count, %bx
  and $(RING_SLOTS - 1), %bx
  shl $3, %bx
  mov %eax, \ring(%bx)
.endm

# ESI = entry TSC, BX = the sample's slot: store the handler's cost, publish the slot, EOI, return.
.macro ISR_EXIT ring, count
  rdtsc
  sub %esi, %eax
  mov %eax, \ring+4(%bx)
  incl \count                             # publish the slot (x86 stores are seen in order)
  mov $MSR_X2APIC_EOI, %ecx
  xor %eax, %eax
  xor %edx, %edx
  wrmsr
  iret
.endm

.globl _start
_start:                                   # IF = 0 from reset until the first sti
  mov $STACK_TOP, %sp
  rdtsc
  mov %eax, CB_BOOT_TSC
  mov %edx, CB_BOOT_TSC+4
  mov $MSR_IA32_APIC_BASE, %ecx           # x2APIC: the APIC through MSRs, no MMIO page to reach
  rdmsr
  or $APIC_BASE_EN_EXTD, %eax
  wrmsr
  mov $MSR_X2APIC_SPIV, %ecx              # software-enable the APIC, or interrupts are dropped
  mov $(0x100 | SPURIOUS_VECTOR), %eax
  xor %edx, %edx
  wrmsr
  mov $MSR_X2APIC_LVT_TIMER, %ecx
  mov $(LVT_TSC_DEADLINE | TIMER_VECTOR), %eax
  wrmsr
  movl $1, CB_READY
  mov CB_DELTA, %eax
  or CB_DELTA+4, %eax
  jz idle                                 # no timer: woken by the device only
  rdtsc
  ARM_TIMER

# default_idle: HLT with interrupts enabled for exactly the HLT (the STI shadow covers it), and
# disabled everywhere else, so no interrupt is taken outside the halt.
idle:
  sti
  hlt
  cli
  jmp idle

# kvm-unit-tests' tscdeadline_latency: lateness = entry TSC - deadline, then re-arm delta ahead.
timer_isr:
  rdtsc                                   # the first instruction the guest runs again
  mov %eax, %esi
  mov %edx, %edi
  sub CB_DEADLINE, %eax
  sbb CB_DEADLINE+4, %edx
  RECORD TIMER_RING, CB_TIMER_COUNT
  mov %esi, %eax
  mov %edi, %edx
  ARM_TIMER
  ISR_EXIT TIMER_RING, CB_TIMER_COUNT

# A device interrupt: latency = entry TSC - the host's TSC when it raised the line.
device_isr:
  rdtsc
  mov %eax, %esi
  mov %edx, %edi
  sub CB_INJECT_TSC, %eax
  sbb CB_INJECT_TSC+4, %edx
  RECORD DEVICE_RING, CB_DEVICE_COUNT
  ISR_EXIT DEVICE_RING, CB_DEVICE_COUNT

spurious_isr:                             # the spurious vector takes no EOI
  iret

# The exit-rate calibration's entry point (instead of _start): a KVM_EXIT_IO round trip per OUT.
exit_loop:
  out %al, $DEBUG_PORT
  jmp exit_loop
