/*
 * The C floor for the kvm backend's exit rate (npm run bench): the same guest bytes (haltlab's
 * guest image, entered at exit_loop: OUT to the debug port, jump back), the same VM shape (in-kernel
 * irqchip, 1 MiB at GPA 0, real mode), and a bare KVM_RUN loop that re-enters on each KVM_EXIT_IO.
 * Usage: kvm-exit-loop GUEST.bin ENTRY SECONDS -> prints "exits SECONDS".
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RAM (1 << 20)
#define LOAD 0x1000
static void die(const char *what) { perror(what); exit(1); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: %s GUEST.bin ENTRY SECONDS\n", argv[0]); return 2; }
  double secs = atof(argv[3]);
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC); if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0); if (vm < 0) die("KVM_CREATE_VM");
  if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
  unsigned char *mem = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap");
  FILE *f = fopen(argv[1], "rb"); if (!f) die("guest");
  fread(mem + LOAD, 1, RAM - LOAD, f); fclose(f);
  struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0, .memory_size = RAM, .userspace_addr = (unsigned long)mem };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0); if (vcpu < 0) die("KVM_CREATE_VCPU");
  int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");
  struct kvm_sregs s; if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0) die("KVM_GET_SREGS");
  s.cs.base = 0; s.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = { .rip = strtoul(argv[2], NULL, 0), .rflags = 2 };
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
  long exits = 0;
  double t0 = now(), t1;
  do {
    for (int i = 0; i < 256; i++) {
      if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
      if (run->exit_reason != KVM_EXIT_IO) { fprintf(stderr, "exit reason %u\n", run->exit_reason); return 1; }
      exits++;
    }
  } while ((t1 = now()) - t0 < secs);
  printf("%ld %.6f\n", exits, t1 - t0);
  return 0;
}
