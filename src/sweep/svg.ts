import type { SweepCurve, SweepResult } from './analysis.ts';

/**
 * The sweep's latency-vs-cost curve as one self-contained SVG file: host CPU
 * per vCPU on x, latency on a log y axis (p50 solid, p99 dashed), each point
 * labelled with its knob value, the knee and the CPU budget marked; one
 * curve per backend when the sweep ran on the model and on real KVM.
 */

/** p50 and p99 colours per backend. */
const COLOURS = { model: ['#1f4e8c', '#7a9cc6'], kvm: ['#b3541e', '#e3a27c'] } as const;
const LABELS = { model: 'model', kvm: 'real KVM' } as const;

const W = 760;
const H = 460;
const M = { left: 70, right: 30, top: 56, bottom: 64 };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(lo: number, hi: number, n = 6): number[] {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

export function sweepSvg(s: SweepResult, caption: string): string {
  const curves: SweepCurve[] = s.curves.length ? s.curves : [{ backend: 'model', points: s.points, knee: s.knee, within_budget: s.within_budget }];
  const pts = curves.flatMap((c) => c.points);
  const xs = pts.map((p) => p.cpu_pct_per_vcpu);
  const ys = pts.flatMap((p) => [p.latency_p50_us, p.latency_p99_us]).filter((y) => y > 0);
  const x0 = 0;
  const x1 = Math.max(10, ...xs, s.cpu_budget_pct ?? 0) * 1.05;
  const ly0 = Math.floor(Math.log10(Math.max(0.01, Math.min(...ys, 1))));
  const ly1 = Math.ceil(Math.log10(Math.max(...ys, 10)));
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const px = (x: number) => r1(M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right));
  const py = (y: number) => r1(H - M.bottom - ((Math.log10(Math.max(y, 10 ** ly0)) - ly0) / (ly1 - ly0 || 1)) * (H - M.top - M.bottom));
  const what = s.metric === 'timer_lateness' ? 'timer lateness' : 'wake latency';
  const line = (c: SweepCurve, pick: (p: (typeof pts)[number]) => number) =>
    [...c.points]
      .sort((a, b) => a.cpu_pct_per_vcpu - b.cpu_pct_per_vcpu)
      .map((p, i) => `${i ? 'L' : 'M'}${px(p.cpu_pct_per_vcpu).toFixed(1)},${py(pick(p)).toFixed(1)}`)
      .join(' ');
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${M.left}" y="22" font-size="15" font-weight="bold">${esc(`${what} vs host CPU, sweeping ${s.knob}`)}</text>`);
  out.push(`<text x="${M.left}" y="40" fill="#555">${esc(caption)}</text>`);
  // Grid and axes.
  for (const t of niceTicks(x0, x1)) {
    out.push(`<line x1="${px(t)}" y1="${M.top}" x2="${px(t)}" y2="${H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${px(t)}" y="${H - M.bottom + 16}" text-anchor="middle" fill="#333">${t}</text>`);
  }
  for (let e = ly0; e <= ly1; e++) {
    const y = py(10 ** e);
    out.push(`<line x1="${M.left}" y1="${y}" x2="${W - M.right}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 8}" y="${y + 4}" text-anchor="end" fill="#333">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)}</text>`);
  }
  out.push(`<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="#333"/>`);
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="#333"/>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 22}" text-anchor="middle">host CPU per vCPU, all haltlab threads (% of one core)</text>`);
  out.push(`<text transform="translate(18 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(what)} (µs, log scale)</text>`);
  if (s.cpu_budget_pct !== null) {
    const bx = px(s.cpu_budget_pct);
    out.push(`<line x1="${bx}" y1="${M.top}" x2="${bx}" y2="${H - M.bottom}" stroke="#c60" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${bx + 4}" y="${M.top + 12}" fill="#c60">budget ${s.cpu_budget_pct}%</text>`);
  }
  // Curves.
  for (const c of curves) {
    const [c50, c99] = COLOURS[c.backend];
    out.push(`<path d="${line(c, (p) => p.latency_p99_us)}" fill="none" stroke="${c99}" stroke-width="1.5" stroke-dasharray="5 4"/>`);
    out.push(`<path d="${line(c, (p) => p.latency_p50_us)}" fill="none" stroke="${c50}" stroke-width="2"/>`);
    for (const p of c.points) {
      const [x, y50, y99] = [px(p.cpu_pct_per_vcpu), py(p.latency_p50_us), py(p.latency_p99_us)];
      out.push(`<circle cx="${x}" cy="${y99}" r="2.5" fill="${c99}"/>`);
      out.push(
        `<circle cx="${x}" cy="${y50}" r="3.5" fill="${c50}"><title>${esc(`${curves.length > 1 ? `${LABELS[c.backend]}, ` : ''}${s.knob}=${p.value}: p50 ${p.latency_p50_us.toFixed(2)} µs, p99 ${p.latency_p99_us.toFixed(1)} µs, ${p.cpu_pct_per_vcpu.toFixed(1)}% CPU`)}</title></circle>`,
      );
      out.push(`<text x="${x + 5}" y="${y50 - 6}" font-size="10" fill="${c50}">${p.value}</text>`);
    }
    if (c.knee) {
      const [x, y] = [px(c.knee.cpu_pct_per_vcpu), py(c.knee.latency_p50_us)];
      out.push(`<circle cx="${x}" cy="${y}" r="9" fill="none" stroke="#c00" stroke-width="2"/>`);
      out.push(`<text x="${x + 12}" y="${y + 16}" fill="#c00">knee: ${esc(`${s.knob}=${c.knee.value}`)}</text>`);
    }
    if (c.within_budget) {
      const [x, y] = [px(c.within_budget.cpu_pct_per_vcpu), py(c.within_budget.latency_p50_us)];
      out.push(`<rect x="${x - 7}" y="${y - 7}" width="14" height="14" fill="none" stroke="#c60" stroke-width="2"/>`);
    }
  }
  // Legend.
  const lx = W - M.right - 150;
  curves.forEach((c, i) => {
    const [c50, c99] = COLOURS[c.backend];
    const y = M.top + 10 + 36 * i;
    const name = curves.length > 1 ? `${LABELS[c.backend]} ` : '';
    out.push(`<line x1="${lx}" y1="${y}" x2="${lx + 24}" y2="${y}" stroke="${c50}" stroke-width="2"/><text x="${lx + 30}" y="${y + 4}">${esc(`${name}p50`)}</text>`);
    out.push(`<line x1="${lx}" y1="${y + 18}" x2="${lx + 24}" y2="${y + 18}" stroke="${c99}" stroke-width="1.5" stroke-dasharray="5 4"/><text x="${lx + 30}" y="${y + 22}">${esc(`${name}p99`)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
