import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { writeSync } from 'node:fs';
import { libc } from '../src/real-kvm/libc.ts';
import { KvmVm } from '../src/real-kvm/kvm-vm.ts';
import { GUEST_SYMBOLS as G } from '../src/real-kvm/guest/image.ts';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { SIZE } from '../src/real-kvm/uapi.ts';
const log = (...a: unknown[]) => writeSync(2, a.map(String).join(' ') + '\n');
const c = libc();
const vm = new KvmVm(c, { vcpus: 1, haltPollNs: 50000, timerDeltaCycles: 0, devices: false });
const seg = new DataView(c.view(vm.vcpus[0].segment, 0x10000));
seg.setBigUint64(G.CB_DELTA, BigInt(Math.round(300000 * vm.tscKhz / 1e6)), true);
process.on('SIGUSR2', () => {});
const w = new Worker(`
const { workerData, parentPort } = require('node:worker_threads');
const k = require(workerData.koffi); const lib = k.load('libc.so.6');
const ioctl = lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']);
const gettid = lib.func('int gettid(void)');
parentPort.postMessage(gettid());
for (;;) { const r = ioctl(workerData.fd, 0xae80, 0); if (r < 0) { parentPort.postMessage('eintr'); break; } }
`, { eval: true, workerData: { fd: vm.vcpus[0].fd, koffi: createRequire(import.meta.url).resolve('koffi') } });
let tid = 0;
const ended = new Promise((r) => w.on('message', (m) => { if (!tid) tid = m; else r(m); }));
await new Promise((r) => setTimeout(r, 3000));
const tgkill = c.koffi.load('libc.so.6').func('int tgkill(int, int, int)');
tgkill(process.pid, tid, 12);
log('ended', await ended);
// raw bytes of the whole stats file
const fd = c.ioctlInt(vm.vcpus[0].fd, 0xaece, 0);
const hdr = Buffer.alloc(24); c.pread(fd, hdr, 24, 0);
const dataOff = hdr.readUInt32LE(20);
const descOff = hdr.readUInt32LE(16); const n = hdr.readUInt32LE(8); const ns = hdr.readUInt32LE(4);
let end = 0; const descs = Buffer.alloc((16 + ns) * n); c.pread(fd, descs, descs.length, descOff);
for (let i = 0; i < n; i++) { const o = i * (16 + ns); end = Math.max(end, descs.readUInt32LE(o + 8) + 8 * descs.readUInt16LE(o + 6)); }
const all = Buffer.alloc(dataOff + end); const got = c.pread(fd, all, all.length, 0);
log('bytes', got, all.length);
// debugfs: the VM's aggregate stats (one vCPU: the vCPU's own)
const dbg = '/sys/kernel/debug/kvm';
const dirs = existsSync(dbg) ? readdirSync(dbg).filter((d) => d.startsWith(`${process.pid}-`)) : [];
const debugfs: Record<string, number> = {};
if (dirs.length) for (const f of readdirSync(`${dbg}/${dirs[0]}`)) { try { const v = readFileSync(`${dbg}/${dirs[0]}/${f}`, 'utf8').trim(); if (/^\d+$/.test(v)) debugfs[f] = Number(v); } catch {} }
log('debugfs entries', Object.keys(debugfs).length, dirs);
writeFileSync(process.argv[2], JSON.stringify({ kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), vendor: existsSync('/sys/module/kvm_amd') ? 'kvm_amd' : existsSync('/sys/module/kvm_intel') ? 'kvm_intel' : 'kvm_pvm', note: 'vCPU stats fd of a 1-vCPU VM after 3 s of a 300 us guest timer with KVM_CAP_HALT_POLL=50000; debugfs holds the VM-wide sums read at the same moment', stats_fd_base64: all.toString('base64'), debugfs }, null, 1));
await w.terminate(); vm.close();
