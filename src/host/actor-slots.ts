/**
 * Every actor of a VM has a slot: its index for the per-actor regions of
 * shared memory (its trace ring, its fault word). The host actor first, then
 * the vCPUs, then the VMM's I/O threads.
 */
export interface ActorSlots {
  host: number;
  vcpu: (id: number) => number;
  iothread: (i: number) => number;
  count: number;
  /** The actor's thread name for a slot. */
  name: (slot: number) => string;
}

/** A vCPU's slot: the host actor is slot 0. */
export const vcpuSlot = (id: number): number => 1 + id;

export function actorSlots(vcpus: number, iothreads: number): ActorSlots {
  return {
    host: 0,
    vcpu: vcpuSlot,
    iothread: (i) => 1 + vcpus + i,
    count: 1 + vcpus + iothreads,
    name: (slot) => (slot === 0 ? 'host' : slot <= vcpus ? `vcpu${slot - 1}` : `iothread${slot - 1 - vcpus}`),
  };
}
