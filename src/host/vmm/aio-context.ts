import { region, struct, type RecordOf } from '../../actors/shared-memory.ts';
import { MAX_VCPUS } from '../../scenarios/bounds.ts';

/**
 * An I/O thread's AioContext as shared words: the eventfds its handlers watch
 * and the one word it sleeps on (its epoll). A signal on any of them bumps
 * `notify` and wakes it, as an eventfd becoming readable ends its ppoll.
 *  - eventfd[q]: queue q's ioeventfd, signalled by KVM when the guest notifies q;
 *  - completed[q]: the thread pool's completions of queue q's requests (QEMU's
 *    thread pool signals one notifier eventfd; per-queue counts say whose).
 */
/** One record per I/O thread. */
export const AIO = region('aio', struct(['notify', ['eventfd', MAX_VCPUS], ['completed', MAX_VCPUS]], ['poll_ns']));
export type AioRecord = RecordOf<typeof AIO>;

/** eventfd_signal() on eventfd `n` of the context, then wake its thread. */
export function eventfdSignal(aio: AioRecord, n: number): void {
  Atomics.add(aio.i32, aio.I.eventfd + n, 1);
  aioNotify(aio);
}

/** A completion of queue `q`'s request, from a thread-pool worker. */
export function aioComplete(aio: AioRecord, q: number): void {
  Atomics.add(aio.i32, aio.I.completed + q, 1);
  aioNotify(aio);
}

export function aioNotify(aio: AioRecord): void {
  aio.wake('notify');
}
