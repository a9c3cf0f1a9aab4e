import { createRequire } from 'node:module';
import { libc } from '../src/real-kvm/libc.ts';
import { KvmVm } from '../src/real-kvm/kvm-vm.ts';
import { GUEST_SYMBOLS as G } from '../src/real-kvm/guest/image.ts';
import { Worker } from 'node:worker_threads';
import { writeSync } from 'node:fs';
const log = (...a: unknown[]) => writeSync(1, a.map(String).join(' ') + '\n');
const c = libc();
const vm = new KvmVm(c, { vcpus: 1, haltPollNs: null, timerDeltaCycles: 0, devices: false });
const seg = new DataView(c.view(vm.vcpus[0].segment, 0x10000));
seg.setBigUint64(G.CB_DELTA, BigInt(Math.round(100000 * vm.tscKhz / 1e6)), true);
log('tscKhz', vm.tscKhz, 'delta', seg.getBigUint64(0, true));
process.on('SIGUSR2', () => {});
const w = new Worker(`
const { workerData, parentPort } = require('node:worker_threads');
const k = require(workerData.koffi); const lib = k.load('libc.so.6');
const ioctl = lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']);
const self = lib.func('unsigned long pthread_self(void)');
parentPort.postMessage(String(self()));
const r = ioctl(workerData.fd, 0xae80, 0);
parentPort.postMessage('KVM_RUN returned ' + r + ' errno ' + k.errno());
`, { eval: true, workerData: { fd: vm.vcpus[0].fd, koffi: createRequire(import.meta.url).resolve('koffi') } });
let tid = '';
w.on('message', (m) => { if (!tid) tid = m; else log(m); });
await new Promise((r) => setTimeout(r, 6000));
log('ready', seg.getUint32(G.CB_READY, true), 'boot tsc', seg.getBigUint64(G.CB_BOOT_TSC, true), 'deadline', seg.getBigUint64(G.CB_DEADLINE, true), 'timer count', seg.getUint32(G.CB_TIMER_COUNT, true));
c.pthread_kill(BigInt(tid), 12);
await new Promise((r) => setTimeout(r, 2000));
// KVM_GET_LAPIC _IOR(0xae, 0x8e, 1024)
const lapic = Buffer.alloc(1024);
const IOR = (nr: number, size: number) => ((2 << 30) | (size << 16) | (0xae << 8) | nr) >>> 0;
log('GET_LAPIC', c.ioctl(vm.vcpus[0].fd, IOR(0x8e, 1024), lapic), c.errno());
const reg = (o: number) => lapic.readUInt32LE(o).toString(16);
log('ID', reg(0x20), 'SVR', reg(0xf0), 'LVTT', reg(0x320), 'TMICT', reg(0x380), 'TMCCT', reg(0x390), 'TDCR', reg(0x3e0), 'IRR1', reg(0x210), 'ISR1', reg(0x110));
// KVM_GET_MSRS _IOWR(0xae, 0x88, struct kvm_msrs (8)) entries 16 bytes: index u32, reserved u32, data u64
const msrs = Buffer.alloc(8 + 16 * 3); msrs.writeUInt32LE(3, 0);
[0x6e0, 0x1b, 0x10].forEach((m, i) => msrs.writeUInt32LE(m, 8 + 16 * i));
const IOWR = (nr: number, size: number) => ((3 << 30) | (size << 16) | (0xae << 8) | nr) >>> 0;
log('GET_MSRS', c.ioctl(vm.vcpus[0].fd, IOWR(0x88, 8), msrs), c.errno());
for (let i = 0; i < 3; i++) log('msr', msrs.readUInt32LE(8 + 16 * i).toString(16), msrs.readBigUInt64LE(16 + 16 * i));
// regs
const regs = Buffer.alloc(144); c.ioctl(vm.vcpus[0].fd, IOR(0x81, 144), regs);
log('rip', regs.readBigUInt64LE(128).toString(16), 'rflags', regs.readBigUInt64LE(136).toString(16));
log('stats', JSON.stringify(Object.fromEntries(Object.entries(vm.vcpus[0].stats.read()).filter(([, v]) => typeof v === 'number' && v))));
await w.terminate(); vm.close();
