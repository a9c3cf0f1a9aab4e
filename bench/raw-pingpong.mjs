// The raw floor, with no haltlab code: one-way wake latency between two threads,
// either blocked in Atomics.wait and woken by Atomics.notify, or spinning on Atomics.load.
// Words: [0] ping seq, [1] pong seq; f64 [1] the sender's stamp; f64 from [2] the samples.
import { workerData } from 'node:worker_threads';

const { sab, role, mode, samples, gapNs, jitter, seed } = workerData;
const w = new Int32Array(sab, 0, 4);
const f = new Float64Array(sab, 16, samples + 2);
const clock = () => Number(process.hrtime.bigint());
let a = seed >>> 0;
const random = () => {
  a = (a + 0x6d2b79f5) >>> 0;
  let t = Math.imul(a ^ (a >>> 15), a | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const sleepFor = (ns) => {
  const end = clock() + ns;
  for (let t = clock(); t < end; t = clock()) Atomics.wait(w, 3, 0, (end - t) / 1e6);
};

if (role === 'sender') {
  for (let i = 1; i <= samples; i++) {
    sleepFor(gapNs * (1 + jitter * (2 * random() - 1)));
    f[1] = clock();
    Atomics.store(w, 0, i);
    if (mode === 'atomics') Atomics.notify(w, 0);
    while (Atomics.load(w, 1) !== i) Atomics.wait(w, 1, i - 1, 20);
  }
} else {
  for (let i = 1; i <= samples; i++) {
    if (mode === 'atomics') {
      while (Atomics.load(w, 0) !== i) Atomics.wait(w, 0, i - 1);
    } else {
      while (Atomics.load(w, 0) !== i);
    }
    f[i + 1] = clock() - f[1];
    Atomics.store(w, 1, i);
    Atomics.notify(w, 1);
  }
}
