// haltlab's live demo page: frames arrive over Server-Sent Events; controls go back as JSON.
// Plain browser JavaScript, no build step; the chart is uPlot (loaded as a global).

const COLORS = {
  guest: '#2e9d4f', // running guest code
  polling: '#f08c00', // halt polling in KVM: a burnt core
  blocked: '#9fb3c8', // asleep in kvm_vcpu_block (or an I/O thread waiting)
  host: '#f5d90a', // in KVM, outside guest mode (exit handling, entry)
  vmm: '#8e5cd9', // returned to the VMM (userspace)
  runnable: '#d6336c', // wants a pCPU and has none
  native_idle: '#1aa7a7', // HLT/MWAIT in guest mode, exits disabled
  vmm_halted: '#c3a6f0', // halted in the VMM (userspace irqchip)
  starting: '#dddddd',
  stopped: '#bbbbbb',
};
const COL_PX = 3;
const STRIP_W = 500;
const STRIP_H = 22;
const HIST_LO = 2 ** 6; // 64 ns
const HIST_HI = 2 ** 27; // 134 ms
const PER_OCTAVE = 8;

const $ = (id) => document.getElementById(id);
const trim = (x, digits) => String(Number(x.toFixed(digits)));
const fmtNs = (ns) => (ns >= 1e9 ? `${trim(ns / 1e9, 2)} s` : ns >= 1e6 ? `${trim(ns / 1e6, 2)} ms` : ns >= 1e3 ? `${trim(ns / 1e3, 1)} µs` : `${Math.round(ns)} ns`);
const fmtInt = (n) => Math.round(n).toLocaleString('en-US');

let states = [];
const strips = new Map();
let hist = null;
let lastBoot = 0;
let config = null;
let kvmParams = [];

function legend() {
  $('legend').innerHTML = states.map((s) => `<span style="--c:${COLORS[s] ?? '#777'}">${s}</span>`).join('');
}

function strip(name) {
  let s = strips.get(name);
  if (s) return s;
  const row = document.createElement('div');
  row.className = 'strip';
  row.dataset.thread = name;
  row.dataset.columns = '0';
  row.innerHTML = `<span class="name">${name}</span><canvas width="${STRIP_W}" height="${STRIP_H}"></canvas><span class="cpu"></span>`;
  $('strips').append(row);
  const canvas = row.querySelector('canvas');
  s = { row, canvas, ctx: canvas.getContext('2d'), cpu: row.querySelector('.cpu'), columns: 0 };
  strips.set(name, s);
  return s;
}

/** Scroll the strip left by one column and draw this frame's state mix at the right edge. */
function drawColumn(s, share, mark) {
  const { ctx, canvas } = s;
  ctx.drawImage(canvas, -COL_PX, 0);
  const x = canvas.width - COL_PX;
  ctx.clearRect(x, 0, COL_PX, STRIP_H);
  let y = STRIP_H;
  share.forEach((f, i) => {
    if (f <= 0) return;
    const h = f * STRIP_H;
    ctx.fillStyle = COLORS[states[i]] ?? '#777';
    ctx.fillRect(x, y - h, COL_PX, h);
    y -= h;
  });
  if (mark) {
    ctx.fillStyle = '#000';
    ctx.fillRect(x, 0, 1, STRIP_H);
  }
  s.columns++;
  s.row.dataset.columns = String(s.columns);
}

function histogram(buckets) {
  const n = Math.log2(HIST_HI / HIST_LO) * PER_OCTAVE;
  const xs = Array.from({ length: n }, (_, i) => HIST_LO * 2 ** (i / PER_OCTAVE));
  const ys = new Array(n).fill(0);
  for (const [lo, , count] of buckets) {
    const i = Math.round(Math.log2(lo / HIST_LO) * PER_OCTAVE);
    ys[Math.max(0, Math.min(n - 1, i))] += count;
  }
  if (!hist) {
    hist = new uPlot(
      {
        width: 520,
        height: 230,
        legend: { show: false },
        scales: { x: { time: false, distr: 3 }, y: { range: (_, min, max) => [0, Math.max(1, max) * 1.1] } },
        // Label the powers of ten only; the log scale's other ticks keep their grid lines.
        axes: [{ values: (_, ticks) => ticks.map((v) => (Number.isInteger(Math.log10(v)) ? fmtNs(v) : '')), label: 'wake latency' }, { label: 'wakeups', size: 60 }],
        series: [{}, { label: 'wakeups', fill: '#2e9d4f88', stroke: '#2e9d4f', paths: uPlot.paths.bars({ size: [0.9, 40] }) }],
      },
      [xs, ys],
      $('histogram'),
    );
  } else hist.setData([xs, ys]);
}

function counters(vcpus, threads) {
  const cpu = new Map(threads.map((t) => [t.name, t.cpu_pct]));
  const reasons = Object.keys(vcpus[0]?.exit_reasons ?? {});
  const head = ['vCPU', 'host CPU', 'exits/s', 'interrupts/s', ...reasons.map((r) => `exit ${r}`), 'halt_exits', 'halt_attempted_poll', 'halt_successful_poll', 'polls successful', 'halt_wakeup', 'halt_poll_ns now'];
  const rows = vcpus.map((v) => {
    const cells = [
      ['name', `vcpu${v.id}`],
      ['cpu_pct', `${(cpu.get(`vcpu${v.id}`) ?? 0).toFixed(0)} %`],
      ['exits_per_s', fmtInt(v.exits_per_s)],
      ['injections_per_s', fmtInt(v.injections_per_s)],
      ...reasons.map((r) => [`exit_${r}`, fmtInt(v.exit_reasons[r])]),
      ['halt_exits', fmtInt(v.halt_exits)],
      ['halt_attempted_poll', fmtInt(v.halt_attempted_poll)],
      ['halt_successful_poll', fmtInt(v.halt_successful_poll)],
      ['poll_success_pct', v.halt_attempted_poll ? `${((100 * v.halt_successful_poll) / v.halt_attempted_poll).toFixed(0)} %` : '–'],
      ['halt_wakeup', fmtInt(v.halt_wakeup)],
      ['halt_poll_ns', fmtInt(v.halt_poll_ns)],
    ];
    return `<tr data-vcpu="${v.id}">${cells.map(([k, c]) => `<td data-stat="${k}">${c}</td>`).join('')}</tr>`;
  });
  // Long KVM names may break after an underscore.
  $('counter-table').innerHTML = `<thead><tr>${head.map((h) => `<th>${h.replaceAll('_', '_<wbr>')}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody>`;
}

function runLine(f) {
  const c = f.config;
  const cap = c.kvm_cap_halt_poll === null ? '' : ` · KVM_CAP_HALT_POLL ${fmtInt(c.kvm_cap_halt_poll)}`;
  $('run-line').textContent =
    `${c.scenario} (${c.workload}) · ${c.vcpus} vCPU / ${c.pcpus} pCPU · boot #${f.boot} · ${f.t.toFixed(1)} s` +
    ` · halt_poll_ns ${fmtInt(c.kvm.halt_poll_ns)}${cap} · guest idle ${c.guest_idle}` +
    (f.paused ? ' · PAUSED' : '');
  $('run-line').classList.toggle('paused', f.paused);
  $('pause').textContent = f.paused ? 'resume' : 'pause';
  $('pause').dataset.paused = String(f.paused);
}

/** Fill the controls from the server's configuration (after boot, or after a control was applied). */
function showConfig(c) {
  config = c;
  for (const p of kvmParams) {
    const input = $(`kvm-${p.name}`);
    if (input && document.activeElement !== input) input.value = String(c.kvm[p.name]);
    const now = $(`kvm-${p.name}-now`);
    if (now) now.textContent = `now ${fmtInt(c.kvm[p.name])}`;
  }
  if (document.activeElement !== $('cap-halt-poll')) $('cap-halt-poll').value = c.kvm_cap_halt_poll === null ? '' : String(c.kvm_cap_halt_poll);
  $('guest-idle').value = c.guest_idle;
  $('interval-form').hidden = c.interval_us === null; // a workload without an interval (dsync-io writes back to back)
  if (document.activeElement !== $('interval') && c.interval_us !== null) $('interval').value = String(c.interval_us);
  $('interval-label').textContent = c.workload === 'timer-latency' ? 'timer delta µs' : 'device gap µs';
}

function status(text, ok) {
  const el = $('control-status');
  el.textContent = text;
  el.className = ok ? 'ok' : 'error';
}

/** Send a control; the value is sent as typed (numbers parsed, anything else as text) so the server judges it. */
async function control(message) {
  status('…', true);
  const r = await fetch('/control', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(message) });
  const answer = await r.json();
  if (!answer.ok) return status(`refused: ${answer.error}`, false);
  showConfig(answer.config);
  status(answer.effect === 'reboot' ? 'applied: the guest rebooted' : `applied (${answer.effect})`, true);
}

const asNumber = (text) => (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text);

function buildControls(params) {
  kvmParams = params;
  $('kvm-params').innerHTML = params
    .map(
      (p) => `<div class="row"><label for="kvm-${p.name}" title="${p.doc} (${p.source})">${p.name}</label>` +
        `<input id="kvm-${p.name}" data-param="${p.name}" inputmode="numeric">` +
        `<button type="button" data-apply="${p.name}">set</button><span class="effect" id="kvm-${p.name}-now"></span></div>`,
    )
    .join('');
  $('kvm-params').addEventListener('click', (e) => {
    const name = e.target?.dataset?.apply;
    if (name) control({ kind: 'kvm_param', name, value: asNumber($(`kvm-${name}`).value) });
  });
  $('kvm-params').addEventListener('submit', (e) => e.preventDefault());
  $('cap-form').addEventListener('submit', (e) => {
    e.preventDefault();
    control({ kind: 'cap_halt_poll', value: asNumber($('cap-halt-poll').value) });
  });
  $('idle-form').addEventListener('submit', (e) => {
    e.preventDefault();
    control({ kind: 'guest_idle', value: $('guest-idle').value });
  });
  $('interval-form').addEventListener('submit', (e) => {
    e.preventDefault();
    control({ kind: 'interval_us', value: asNumber($('interval').value) });
  });
  $('pause').addEventListener('click', () => control({ kind: $('pause').dataset.paused === 'true' ? 'resume' : 'pause' }));
}

async function start() {
  const init = await (await fetch('/config')).json();
  buildControls(init.kvm_params);
  showConfig(init.config);
  const events = new EventSource('/events');
  events.addEventListener('frame', (e) => {
    const f = JSON.parse(e.data);
    if (states.length !== f.states.length) {
      states = f.states;
      legend();
    }
    const rebooted = f.boot !== lastBoot && lastBoot !== 0;
    if (f.boot !== lastBoot) showConfig(f.config);
    lastBoot = f.boot;
    for (const t of f.threads) {
      const s = strip(t.name);
      drawColumn(s, t.share, rebooted);
      s.cpu.textContent = `${t.cpu_pct.toFixed(0)} % CPU`;
      s.cpu.title = 'this thread’s CPU time over the last frame, from the OS, % of one core';
    }
    runLine(f);
    const w = f.wake;
    $('percentiles').textContent = w.count
      ? `p50 ${fmtNs(w.p50)} · p90 ${fmtNs(w.p90)} · p99 ${fmtNs(w.p99)} · ${fmtInt(w.count)} wakeups in ${w.window_s.toFixed(1)} s`
      : 'no wakeups in the last second';
    $('percentiles').dataset.count = String(w.count);
    histogram(w.buckets);
    counters(f.vcpus, f.threads);
  });
  events.addEventListener('error', () => {
    $('run-line').textContent = 'disconnected: the demo stopped (or is restarting)';
  });
}

start();
