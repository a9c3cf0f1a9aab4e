// The timer floor, with no haltlab code: a bare thread sleeps in a timed Atomics.wait until an
// absolute deadline, then re-arms `deltaNs` after it woke, as timer-latency's guest re-arms after
// its handler. Lateness = wake - deadline. Timer slack 1 ns, as haltlab's threads that stand in
// for an hrtimer ask (an hrtimer has none). f64 [0] the slack in effect (-1: unknown); from [1] the samples.
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

const { sab, samples, deltaNs } = workerData;
const f = new Float64Array(sab, 0, samples + 1);
const word = new Int32Array(new SharedArrayBuffer(4));
const clock = () => Number(process.hrtime.bigint());

f[0] = -1;
try {
  const file = `/proc/${readlinkSync('/proc/thread-self').split('/').pop()}/timerslack_ns`;
  try {
    writeFileSync(file, '1');
  } catch {
    // not permitted: keep the default, reported
  }
  f[0] = Number(readFileSync(file, 'utf8'));
} catch {
  // no /proc
}

let t = clock();
for (let i = 1; i <= samples; i++) {
  const deadline = t + deltaNs;
  // A timed wait may return a hair early (ms granularity of the API): wait again for the rest.
  for (t = clock(); t < deadline; t = clock()) Atomics.wait(word, 0, 0, (deadline - t) / 1e6);
  f[i] = t - deadline;
}
