import { paramDefaults, type ModuleParam, type ParamValues } from '../../params/module-param.ts';

/**
 * QEMU's IOThread adaptive polling (util/aio-posix.c, reference §5.1): before
 * it sleeps, aio_poll() busy-polls its handlers for up to poll.ns; afterwards
 * adjust_polling_time() moves poll.ns by how long the whole aio_poll blocked.
 * Properties of `-object iothread`: poll-max-ns (0: never poll), poll-grow
 * (0: factor 2), poll-shrink (0: back to 0).
 */

/** `-object iothread,poll-max-ns=…,poll-grow=…,poll-shrink=…`, with QEMU's defaults on POSIX hosts. */
export const AIO_POLL_PARAMS = [
  {
    module: 'iothread',
    name: 'poll_max_ns',
    default: 32768,
    unit: 'ns',
    doc: 'QEMU iothread poll-max-ns: the I/O thread’s busy-poll ceiling before it sleeps, ns (0: never poll)',
    source: 'IOTHREAD_POLL_MAX_NS_DEFAULT, iothread.c',
  },
  { module: 'iothread', name: 'poll_grow', default: 0, unit: 'factor', max: 1000, doc: 'QEMU iothread poll-grow: multiplier when its poll time grows (0: QEMU’s default)', source: 'util/aio-posix.c' },
  { module: 'iothread', name: 'poll_shrink', default: 0, unit: 'divisor', max: 1000, doc: 'QEMU iothread poll-shrink: divisor when its poll time shrinks (0: reset)', source: 'util/aio-posix.c' },
] as const satisfies readonly ModuleParam<'iothread'>[];

export type AioPollParams = ParamValues<typeof AIO_POLL_PARAMS>;
export const AIO_POLL_DEFAULTS: AioPollParams = paramDefaults(AIO_POLL_PARAMS);

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
