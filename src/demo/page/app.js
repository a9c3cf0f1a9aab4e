// haltlab's live demo page: frames arrive over Server-Sent Events; controls go back as JSON.
// Plain browser JavaScript, no build step; the charts are uPlot (loaded as a global).

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
// A mark's colour says what happened: a knob changed in place, the guest rebooted, the VM paused or resumed.
const MARK_COLORS = { knob: '#1f5fd1', reboot: '#000000', pause: '#a35200', resume: '#1b6e20' };
const COL_PX = 3;
const STRIP_H = 22;
const HIST_LO = 2 ** 6; // 64 ns
const HIST_HI = 2 ** 27; // 134 ms
const PER_OCTAVE = 8;
/** The trend chart keeps the last minute. */
const TREND_S = 60;

const $ = (id) => document.getElementById(id);
const trim = (x, digits) => String(Number(x.toFixed(digits)));
const fmtNs = (ns) => (ns >= 1e9 ? `${trim(ns / 1e9, 2)} s` : ns >= 1e6 ? `${trim(ns / 1e6, 2)} ms` : ns >= 1e3 ? `${trim(ns / 1e3, 1)} µs` : `${Math.round(ns)} ns`);
// null: a figure this backend does not have (real KVM exports no vcpu->halt_poll_ns).
const fmtInt = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));

let states = [];
let lastBoot = 0;
let config = null;
let kvmParams = [];

// ---- The strips: one column per frame, newest at the right, redrawn from history each frame ----

/** The frames the strips show, oldest first: session time, each thread's state shares, and the marks made then. */
const columns = [];
const strips = new Map();

const visibleColumns = () => Math.max(1, Math.floor($('time-axis').clientWidth / COL_PX));

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
  row.innerHTML = `<span class="name">${name}</span><canvas height="${STRIP_H}"></canvas><span class="cpu"></span>`;
  $('strips').append(row);
  const canvas = row.querySelector('canvas');
  s = { name, row, canvas, cpu: row.querySelector('.cpu'), columns: 0 };
  canvas.addEventListener('mousemove', (e) => stripTip(s, e));
  canvas.addEventListener('mouseleave', () => ($('strip-tip').hidden = true));
  strips.set(name, s);
  return s;
}

/** The column under the pointer, or null. */
function columnAt(canvas, clientX) {
  const box = canvas.getBoundingClientRect();
  const n = visibleColumns();
  const first = Math.max(0, columns.length - n);
  const x0 = box.width - (columns.length - first) * COL_PX; // the newest column ends at the right edge
  const i = first + Math.floor((clientX - box.left - x0) / COL_PX);
  return i >= first && i < columns.length ? columns[i] : null;
}

function stripTip(s, e) {
  const c = columnAt(s.canvas, e.clientX);
  const tip = $('strip-tip');
  const share = c?.share.get(s.name);
  if (!share) {
    tip.hidden = true;
    return;
  }
  const parts = share.map((f, i) => [states[i], f]).filter(([, f]) => f >= 0.005).sort((a, b) => b[1] - a[1]);
  tip.textContent = `${s.name} at ${c.t.toFixed(2)} s: ${parts.map(([st, f]) => `${st} ${(100 * f).toFixed(0)}%`).join(' · ')} · ${c.cpu.get(s.name)?.toFixed(0) ?? '?'} % CPU`;
  tip.hidden = false;
  tip.style.left = `${e.clientX + 12}px`;
  tip.style.top = `${e.clientY + 14}px`;
}

/** Fit a canvas's pixels to its laid-out width (the layout adapts to the window). */
function fit(canvas) {
  const w = Math.max(1, Math.floor(canvas.clientWidth));
  if (canvas.width !== w) canvas.width = w;
  return w;
}

function drawStrips() {
  const n = visibleColumns();
  const shown = columns.slice(-n);
  for (const s of strips.values()) {
    const w = fit(s.canvas);
    const ctx = s.canvas.getContext('2d');
    ctx.clearRect(0, 0, w, STRIP_H);
    const x0 = w - shown.length * COL_PX;
    shown.forEach((c, i) => {
      const x = x0 + i * COL_PX;
      const share = c.share.get(s.name);
      let y = STRIP_H;
      share?.forEach((f, k) => {
        if (f <= 0) return;
        const h = f * STRIP_H;
        ctx.fillStyle = COLORS[states[k]] ?? '#777';
        ctx.fillRect(x, y - h, COL_PX, h);
        y -= h;
      });
      for (const m of c.marks) {
        ctx.fillStyle = MARK_COLORS[m.kind] ?? '#000';
        ctx.fillRect(x, 0, 1, STRIP_H);
      }
    });
  }
  drawAxis(shown);
}

/** Session seconds under the strips: a tick and a label at each whole second, a flag at each mark. */
function drawAxis(shown) {
  const canvas = $('time-axis');
  const w = fit(canvas);
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, w, canvas.height);
  ctx.font = '10px ui-monospace, monospace';
  ctx.textBaseline = 'top';
  const x0 = w - shown.length * COL_PX;
  let latest = null;
  shown.forEach((c, i) => {
    const x = x0 + i * COL_PX;
    const prev = shown[i - 1] ?? columns[columns.length - shown.length - 1];
    if (prev && Math.floor(prev.t) !== Math.floor(c.t)) {
      const sec = Math.floor(c.t);
      ctx.fillStyle = '#667';
      ctx.fillRect(x, 0, 1, 4);
      // Every second gets a tick; labels every 2 s where there is room.
      if (sec % 2 === 0 && x > 14 && x < w - 14) ctx.fillText(`${sec}s`, x - 8, 6);
      latest = sec;
    }
    for (const m of c.marks) {
      ctx.fillStyle = MARK_COLORS[m.kind] ?? '#000';
      ctx.fillRect(x, 0, 1, canvas.height);
    }
  });
  canvas.dataset.latestSecond = latest === null ? '' : String(latest);
}

function addMarks(marks) {
  const list = $('marks');
  for (const m of marks) {
    const li = document.createElement('li');
    li.dataset.kind = m.kind;
    li.innerHTML = `<span class="kind" style="--c:${MARK_COLORS[m.kind]}"></span>${m.t_s.toFixed(1)} s · `;
    li.append(m.label);
    list.prepend(li);
  }
  list.dataset.count = String(list.children.length);
}

// ---- The trend chart: the last minute of wake latency and CPU, with the marks ----

const trend = { t: [], p50: [], p99: [], cpu: [], marks: [], chart: null };

function marksPlugin() {
  return {
    hooks: {
      draw: (u) => {
        const { ctx, bbox } = u;
        ctx.save();
        trend.marks.forEach((m, i) => {
          const x = Math.round(u.valToPos(m.t_s, 'x', true));
          if (x < bbox.left || x > bbox.left + bbox.width) return;
          ctx.fillStyle = MARK_COLORS[m.kind] ?? '#000';
          ctx.fillRect(x, bbox.top, 1, bbox.height);
          ctx.font = `${Math.round(10 * devicePixelRatio)}px sans-serif`;
          // Labels of marks close together go on three staggered lines.
          ctx.fillText(m.label, x + 3, bbox.top + (10 + 11 * (i % 3)) * devicePixelRatio);
        });
        ctx.restore();
      },
    },
  };
}

function trendChart() {
  const el = $('trend-chart');
  const us = (v) => (v == null ? '–' : `${trim(v, v < 10 ? 2 : 1)} µs`);
  trend.chart = new uPlot(
    {
      width: Math.max(300, el.clientWidth),
      height: 220,
      plugins: [marksPlugin()],
      scales: { x: { time: false }, us: { distr: 3 }, cpu: { range: (_, min, max) => [0, Math.max(100, max)] } },
      axes: [
        { label: 'session time (s)', values: (_, ticks) => ticks.map((v) => `${trim(v, 1)}`) },
        { scale: 'us', label: 'wake latency (µs)', size: 60, values: (_, ticks) => ticks.map((v) => (Number.isInteger(Math.log10(v)) ? trim(v, 2) : '')) },
        { scale: 'cpu', side: 1, label: 'host CPU per vCPU (%)', grid: { show: false }, size: 50 },
      ],
      series: [
        { label: 'time', value: (_, v) => (v == null ? '–' : `${v.toFixed(2)} s`) },
        { label: 'wake p50', scale: 'us', stroke: '#1f5fd1', width: 1.5, value: (_, v) => us(v), spanGaps: false },
        { label: 'wake p99', scale: 'us', stroke: '#8fb3ef', width: 1.5, dash: [5, 4], value: (_, v) => us(v), spanGaps: false },
        { label: 'CPU per vCPU', scale: 'cpu', stroke: '#f08c00', width: 1.5, value: (_, v) => (v == null ? '–' : `${v.toFixed(0)} %`) },
      ],
    },
    [trend.t, trend.p50, trend.p99, trend.cpu],
    el,
  );
}

function addTrendPoint(f) {
  const vcpus = f.threads.filter((t) => t.kind === 'vcpu');
  const held = states.indexOf('native_idle');
  // A pCPU held idle in guest mode is spent like CPU time (its thread sleeps; nothing else runs there).
  const cost = vcpus.length ? vcpus.reduce((a, t) => a + Math.min(100, t.cpu_pct + (held >= 0 ? 100 * t.share[held] : 0)), 0) / vcpus.length : 0;
  trend.t.push(f.session_t);
  trend.p50.push(f.wake.count ? f.wake.p50 / 1000 : null);
  trend.p99.push(f.wake.count ? f.wake.p99 / 1000 : null);
  trend.cpu.push(cost);
  while (trend.t.length && trend.t[0] < f.session_t - TREND_S) for (const k of ['t', 'p50', 'p99', 'cpu']) trend[k].shift();
  trend.marks = trend.marks.filter((m) => m.t_s >= f.session_t - TREND_S);
  if (!trend.chart) trendChart();
  trend.chart.setData([trend.t, trend.p50, trend.p99, trend.cpu]);
  $('trend-chart').dataset.points = String(trend.t.length);
}

// ---- The wake-latency histogram of the last second ----

let hist = null;

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
        width: Math.max(300, $('histogram').clientWidth),
        height: 230,
        scales: { x: { time: false, distr: 3 }, y: { range: (_, min, max) => [0, Math.max(1, max) * 1.1] } },
        // Label the powers of ten only; the log scale's other ticks keep their grid lines.
        axes: [{ values: (_, ticks) => ticks.map((v) => (Number.isInteger(Math.log10(v)) ? fmtNs(v) : '')), label: 'wake latency' }, { label: 'wakeups', size: 60 }],
        series: [
          { label: 'bucket from', value: (_, v) => (v == null ? '–' : fmtNs(v)) },
          { label: 'wakeups', fill: '#2e9d4f88', stroke: '#2e9d4f', paths: uPlot.paths.bars({ size: [0.9, 40] }), value: (_, v) => (v == null ? '–' : fmtInt(v)) },
        ],
      },
      [xs, ys],
      $('histogram'),
    );
  } else hist.setData([xs, ys]);
}

// Charts follow their column's width when the window changes.
new ResizeObserver(() => {
  if (trend.chart) trend.chart.setSize({ width: Math.max(300, $('trend-chart').clientWidth), height: 220 });
  if (hist) hist.setSize({ width: Math.max(300, $('histogram').clientWidth), height: 230 });
  drawStrips();
}).observe($('timeline'));

// ---- KVM counters: a row per statistic, a column per vCPU ----

function counters(vcpus, threads) {
  const cpu = new Map(threads.map((t) => [t.name, t.cpu_pct]));
  const occurred = Object.keys(vcpus[0]?.exit_reasons ?? {}).filter((r) => vcpus.some((v) => v.exit_reasons[r] > 0));
  const rows = [
    ['cpu_pct', 'host CPU', (v) => `${(cpu.get(`vcpu${v.id}`) ?? 0).toFixed(0)} %`],
    ['exits_per_s', 'exits/s', (v) => fmtInt(v.exits_per_s)],
    ['injections_per_s', 'interrupts/s', (v) => fmtInt(v.injections_per_s)],
    ...occurred.map((r) => [`exit_${r}`, `exit ${r}`, (v) => fmtInt(v.exit_reasons[r])]),
    ['halt_exits', 'halt_exits', (v) => fmtInt(v.halt_exits)],
    ['halt_attempted_poll', 'halt_attempted_poll', (v) => fmtInt(v.halt_attempted_poll)],
    ['halt_successful_poll', 'halt_successful_poll', (v) => fmtInt(v.halt_successful_poll)],
    ['poll_success_pct', 'polls successful', (v) => (v.halt_attempted_poll ? `${((100 * v.halt_successful_poll) / v.halt_attempted_poll).toFixed(0)} %` : '–')],
    ['halt_wakeup', 'halt_wakeup', (v) => fmtInt(v.halt_wakeup)],
    ['halt_poll_ns', 'halt_poll_ns now', (v) => fmtInt(v.halt_poll_ns)],
  ];
  const head = `<thead><tr><th></th>${vcpus.map((v) => `<th>vcpu${v.id}</th>`).join('')}</tr></thead>`;
  const body = rows.map(([key, label, cell]) => `<tr data-stat="${key}"><th>${label}</th>${vcpus.map((v) => `<td data-vcpu="${v.id}" data-stat="${key}">${cell(v)}</td>`).join('')}</tr>`);
  $('counter-table').innerHTML = `${head}<tbody>${body.join('')}</tbody>`;
}

function runLine(f) {
  const c = f.config;
  const cap = c.kvm_cap_halt_poll === null ? '' : ` · KVM_CAP_HALT_POLL ${fmtInt(c.kvm_cap_halt_poll)}`;
  $('run-line').textContent =
    `${c.scenario} (${c.workload}) · ${c.vcpus} vCPU ${f.backend === 'kvm' ? 'on REAL KVM (/dev/kvm)' : `/ ${c.pcpus} pCPU`} · boot #${f.boot} · ${f.session_t.toFixed(1)} s` +
    ` · halt_poll_ns ${fmtInt(c.kvm.halt_poll_ns)}${cap} · guest idle ${c.guest_idle}` +
    (f.paused ? ' · PAUSED' : '');
  $('run-line').classList.toggle('paused', f.paused);
  $('pause').textContent = f.paused ? 'resume' : 'pause';
  $('pause').dataset.paused = String(f.paused);
}

// ---- Controls ----

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

/** Each field is a form of its own, so Enter in it applies that field and no other. */
function buildControls(params, idleModes) {
  kvmParams = params;
  $('kvm-params').innerHTML = params
    .map(
      (p) => `<form class="row" data-param="${p.name}"><label for="kvm-${p.name}" title="${p.doc} (${p.source})">${p.name}</label>` +
        `<input id="kvm-${p.name}" name="value" inputmode="numeric">` +
        `<button type="submit" data-apply="${p.name}">set</button><span class="effect" id="kvm-${p.name}-now"></span></form>`,
    )
    .join('');
  for (const form of $('kvm-params').querySelectorAll('form')) {
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      control({ kind: 'kvm_param', name: form.dataset.param, value: asNumber(form.elements.value.value) });
    });
  }
  // Every idle loop is listed; one this scenario cannot boot says why.
  $('guest-idle').innerHTML = idleModes
    .map((m) => `<option value="${m.mode}"${m.ok ? '' : ' disabled'} title="${m.ok ? '' : m.why.replaceAll('"', '&quot;')}">${m.mode}${m.ok ? '' : ' (not here)'}</option>`)
    .join('');
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

// ---- Frames ----

function onFrame(f) {
  if (states.length !== f.states.length) {
    states = f.states;
    legend();
  }
  const marks = [...f.marks];
  if (f.boot !== lastBoot) showConfig(f.config);
  lastBoot = f.boot;
  const column = { t: f.session_t, share: new Map(), cpu: new Map(), marks };
  for (const t of f.threads) {
    const s = strip(t.name);
    column.share.set(t.name, t.share);
    column.cpu.set(t.name, t.cpu_pct);
    s.columns++;
    s.row.dataset.columns = String(s.columns);
    s.cpu.textContent = `${t.cpu_pct.toFixed(0)} % CPU`;
    s.cpu.title = 'this thread’s CPU time over the last frame, from the OS, % of one core';
  }
  columns.push(column);
  if (columns.length > 4000) columns.splice(0, columns.length - 4000);
  addMarks(marks);
  trend.marks.push(...marks);
  drawStrips();
  runLine(f);
  const w = f.wake;
  $('percentiles').textContent = w.count
    ? `p50 ${fmtNs(w.p50)} · p90 ${fmtNs(w.p90)} · p99 ${fmtNs(w.p99)} · ${fmtInt(w.count)} wakeups in ${w.window_s.toFixed(1)} s`
    : 'no wakeups in the last second';
  $('percentiles').dataset.count = String(w.count);
  histogram(w.buckets);
  addTrendPoint(f);
  counters(f.vcpus, f.threads);
}

async function start() {
  const init = await (await fetch('/config')).json();
  buildControls(init.kvm_params, init.guest_idle_modes);
  showConfig(init.config);
  const events = new EventSource('/events');
  events.addEventListener('frame', (e) => onFrame(JSON.parse(e.data)));
  events.addEventListener('error', () => {
    $('run-line').textContent = 'disconnected: the demo stopped (or is restarting)';
  });
}

start();
