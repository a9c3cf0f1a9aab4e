import { writeSync } from 'node:fs';
import { parseScenario } from '../src/scenarios/schema.ts';
import { KvmRun } from '../src/real-kvm/run.ts';
const log = (...a: unknown[]) => writeSync(2, a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ') + '\n');
const s = parseScenario({ duration_s: 2, vm: { vcpus: 1 }, workload: { kind: 'irq-wake' }, host: { kvm_cap_halt_poll: Number(process.argv[2] ?? 0) } });
const r = new KvmRun(s);
const t0 = Date.now();
const iv = setInterval(() => {
  const st = r.stats()[0] ?? {};
  log(`t=${Date.now() - t0} elapsed=${r.elapsedS().toFixed(2)} halt_exits=${st.halt_exits} wakeup=${st.halt_wakeup} inj=${st.irq_injections} exits=${st.exits} signal=${st.signal_exits} blocking=${st.blocking}`);
}, 500);
const res = await r.run({});
clearInterval(iv);
log('done', res.status, res.failure?.message ?? '', res.total.wake_latency_ns.count);
