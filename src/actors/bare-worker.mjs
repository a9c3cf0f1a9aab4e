// The baseline actor: an ES-module worker that says it started, then only waits on a shared word
// until told to stop. Words: [0] workers started, [1] stop.
import { workerData } from 'node:worker_threads';

const w = new Int32Array(workerData.sab);
Atomics.add(w, 0, 1);
Atomics.notify(w, 0);
while (Atomics.load(w, 1) === 0) Atomics.wait(w, 1, 0);
