import { z } from 'zod';
import { hrtimerRearm } from '../../guest/workloads/hrtimer-rearm.ts';
import { defineWorkload } from '../module.ts';

export default defineWorkload({
  schema: z.strictObject({
    kind: z.literal('hrtimer-rearm'),
    event_ns: z.int().min(1_000).max(1_000_000_000).default(20_000).describe('work between two re-arms: the guest loop’s event interval, ns'),
    timeout_ns: z.int().min(1_000).max(1_000_000_000).default(1_000_000).describe('each re-arm programs the timer this far ahead, ns'),
    rearms: z.int().min(1).max(10_000).default(50).describe('re-arms per cycle, before the guest stops pushing and waits for the timer to fire'),
  }),
  summary: 'a guest hrtimer pushed later on every event of a fast loop, then left to fire: many TSC-deadline rewrites per expiry (try --set lazy_tscdeadline=true)',
  source: 'lazy tscdeadline PV RFC, Wang Jianchao, July 2023 (seeds/004): guest clockevent set_next_event',
  program: (w, kernel) => hrtimerRearm({ event_ns: w.event_ns, timeout_ns: w.timeout_ns, rearms: w.rearms, kernel }),
});
