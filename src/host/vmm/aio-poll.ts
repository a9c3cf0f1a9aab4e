/**
 * QEMU's IOThread adaptive polling (util/aio-posix.c, reference §5.1): before
 * it sleeps, aio_poll() busy-polls its handlers for up to poll.ns; afterwards
 * adjust_polling_time() moves poll.ns by how long the whole aio_poll blocked.
 * Properties of `-object iothread`: poll-max-ns (0: never poll), poll-grow
 * (0: factor 2), poll-shrink (0: back to 0).
 */

export interface AioPollParams {
  poll_max_ns: number;
  poll_grow: number;
  poll_shrink: number;
}

/** QEMU's defaults on POSIX hosts. */
export const AIO_POLL_DEFAULTS: AioPollParams = { poll_max_ns: 32768, poll_grow: 0, poll_shrink: 0 };

/** Where polling starts from 0 ("start polling at 4 microseconds"). */
export const AIO_POLL_START_NS = 4000;

/** adjust_polling_time(): the next poll.ns after an aio_poll that blocked blockNs in all. */
export function adjustPollingTime(pollNs: number, blockNs: number, p: AioPollParams): number {
  if (blockNs <= pollNs) return pollNs; // the sweet spot
  if (blockNs > p.poll_max_ns) return p.poll_shrink ? Math.floor(pollNs / p.poll_shrink) : 0; // would poll too long
  if (pollNs < p.poll_max_ns && blockNs < p.poll_max_ns) {
    const grown = pollNs ? pollNs * (p.poll_grow || 2) : AIO_POLL_START_NS;
    return Math.min(grown, p.poll_max_ns);
  }
  return pollNs;
}
